"""The console's sign-in in the local stack: the template's user pool, app client and groups
made in moto, one demo user per group, and the `config.json` the console reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leadscore_tools.intrinsics import Naming, Resolver
from leadscore_tools.template import TEMPLATE, load_template


@dataclass(frozen=True)
class DemoUser:
    email: str
    password: str
    group: str


DEMO_USERS = (
    DemoUser("sales@example.com", "Sales-demo-1", "sales"),
    DemoUser("marketing@example.com", "Marketing-demo-1", "marketing"),
)
# The template's properties that moto's CreateUserPool / CreateUserPoolClient / CreateGroup
# take under the same name (CloudFormation's UserPoolName is the API's PoolName).
_POOL_KEYS = (
    "Policies",
    "UsernameAttributes",
    "UsernameConfiguration",
    "AutoVerifiedAttributes",
    "AdminCreateUserConfig",
    "AccountRecoverySetting",
    "MfaConfiguration",
    "UserPoolAddOns",
    "UserPoolTier",
    "DeletionProtection",
    "Schema",
)
_CLIENT_KEYS = (
    "ClientName",
    "GenerateSecret",
    "ExplicitAuthFlows",
    "PreventUserExistenceErrors",
    "EnableTokenRevocation",
    "AuthSessionValidity",
    "IdTokenValidity",
    "AccessTokenValidity",
    "RefreshTokenValidity",
    "TokenValidityUnits",
)
_GROUP_KEYS = ("GroupName", "Description", "Precedence")


@dataclass(frozen=True)
class SignIn:
    """The pool the local authorizer trusts, its console client, and the demo users."""

    region: str
    user_pool_id: str
    client_id: str
    users: tuple[DemoUser, ...]

    def environment(self) -> dict[str, str]:
        """The authorizer's variables, pointed at this pool (the template's are logical ids)."""
        return {
            "LEADSCORE_USER_POOL_ID": self.user_pool_id,
            "LEADSCORE_USER_POOL_CLIENT_ID": self.client_id,
        }


def create_sign_in(
    cognito: Any,
    naming: Naming,
    template: Path = TEMPLATE,
    users: tuple[DemoUser, ...] = DEMO_USERS,
) -> SignIn | None:
    """The template's user pool, its client and groups in moto, with `users` in their groups
    (permanent passwords: no change asked at first sign-in). None: the template has no pool."""
    resolver = Resolver(load_template(template), {}, naming)
    found: dict[str, list[dict[str, Any]]] = {}
    for logical_id, resource in resolver.resources.items():
        kind = str(resource.get("Type"))
        if kind.startswith("AWS::Cognito::") and resolver.exists(logical_id):
            found.setdefault(kind, []).append(resolver.value(resource.get("Properties") or {}))
    pools = found.get("AWS::Cognito::UserPool", [])
    clients = found.get("AWS::Cognito::UserPoolClient", [])
    if not pools:
        return None
    if len(pools) != 1 or len(clients) != 1:
        raise ValueError("the local stack expects one user pool and one app client")
    [pool], [client] = pools, clients
    pool_id = cognito.create_user_pool(
        PoolName=str(pool.get("UserPoolName") or "console"), **_only(pool, _POOL_KEYS)
    )["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(UserPoolId=pool_id, **_only(client, _CLIENT_KEYS))[
        "UserPoolClient"
    ]["ClientId"]
    for group in found.get("AWS::Cognito::UserPoolGroup", []):
        cognito.create_group(UserPoolId=pool_id, **_only(group, _GROUP_KEYS))
    for user in users:
        cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=user.email,
            UserAttributes=[
                {"Name": "email", "Value": user.email},
                {"Name": "email_verified", "Value": "true"},
            ],
            MessageAction="SUPPRESS",  # no invitation email
        )
        cognito.admin_set_user_password(
            UserPoolId=pool_id, Username=user.email, Password=user.password, Permanent=True
        )
        cognito.admin_add_user_to_group(
            UserPoolId=pool_id, Username=user.email, GroupName=user.group
        )
    return SignIn(naming.region, pool_id, client_id, users)


def console_config(sign_in: SignIn, moto_url: str) -> dict[str, str]:
    """`/console/config.json`: the API on the console's own origin, Cognito at moto."""
    return {
        "api": "",
        "region": sign_in.region,
        "userPoolId": sign_in.user_pool_id,
        "clientId": sign_in.client_id,
        "cognitoEndpoint": moto_url.rstrip("/") + "/",
    }


def banner_lines(api_url: str, sign_in: SignIn | None) -> list[str]:
    """The console's URL and who may sign in to it, for the start banner."""
    if sign_in is None:
        return []
    users = [
        f"  {'' if n else 'sign in as':<13}{user.email} / {user.password}   ({user.group})"
        for n, user in enumerate(sign_in.users)
    ]
    return [f"  console      {api_url}/console/", *users]


def _only(properties: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: properties[key] for key in keys if key in properties}
