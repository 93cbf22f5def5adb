"""How CloudFormation would name a template's resources and evaluate its conditions and
intrinsic functions, for the local stand-in of the stack (and the tests that read it)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

ACCOUNT_ID = "123456789012"  # moto's default account
_NO_VALUE = object()


class TemplateError(Exception):
    """The template uses something the local stack cannot resolve."""


@dataclass(frozen=True)
class Naming:
    """How the local stand-in names what CloudFormation would create."""

    endpoint: str  # the moto server, e.g. http://127.0.0.1:5000
    region: str = "us-east-1"
    stack_name: str = "leadscore"

    def physical(self, logical_id: str, resource: dict[str, Any]) -> dict[str, str]:
        """`Ref` and the `GetAtt` attributes of a resource, by its type."""
        kind = resource.get("Type", "")
        properties = resource.get("Properties") or {}
        prefix = f"arn:aws:{{}}:{self.region}:{ACCOUNT_ID}:"
        if kind == "AWS::SQS::Queue":
            name = _plain(properties.get("QueueName")) or f"{self.stack_name}-{logical_id}"
            if properties.get("FifoQueue") and not name.endswith(".fifo"):
                name += ".fifo"
            url = f"{self.endpoint}/{ACCOUNT_ID}/{name}"
            arn = prefix.format("sqs") + name
            return {"Ref": url, "QueueUrl": url, "QueueName": name, "Arn": arn}
        if kind == "AWS::SNS::Topic":
            name = _plain(properties.get("TopicName")) or f"{self.stack_name}-{logical_id}"
            arn = prefix.format("sns") + name
            return {"Ref": arn, "TopicArn": arn, "TopicName": name}
        if kind == "AWS::DynamoDB::Table":
            name = _plain(properties.get("TableName")) or f"{self.stack_name}-{logical_id}"
            arn = prefix.format("dynamodb") + f"table/{name}"
            return {"Ref": name, "Arn": arn, "StreamArn": arn + "/stream/local"}
        if kind == "AWS::Serverless::Function":
            name = _plain(properties.get("FunctionName")) or f"{self.stack_name}-{logical_id}"
            return {"Ref": name, "Arn": prefix.format("lambda") + f"function:{name}"}
        return {"Ref": logical_id, "Arn": prefix.format("local") + logical_id}


def _plain(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class Resolver:
    """Evaluates conditions and intrinsic functions (Ref, GetAtt, Sub, Join, Select, Split, If)."""

    def __init__(
        self, template: dict[str, Any], parameters: dict[str, str], naming: Naming
    ) -> None:
        self.template = template
        self.naming = naming
        self.parameters: dict[str, Any] = {
            name: str(spec.get("Default", "")) if spec.get("Default") is not None else ""
            for name, spec in (template.get("Parameters") or {}).items()
        }
        unknown = set(parameters) - set(self.parameters)
        if unknown:
            raise TemplateError(f"unknown template parameters: {', '.join(sorted(unknown))}")
        self.parameters.update(parameters)
        self.pseudo = {
            "AWS::Region": naming.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": naming.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{naming.region}:{ACCOUNT_ID}:stack/local",
        }
        self.resources: dict[str, dict[str, Any]] = template.get("Resources") or {}
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            definition = (self.template.get("Conditions") or {}).get(name)
            if definition is None:
                raise TemplateError(f"unknown condition {name}")
            self._conditions[name] = bool(self.value(definition))
        return self._conditions[name]

    def exists(self, logical_id: str) -> bool:
        resource = self.resources.get(logical_id)
        if resource is None:
            return False
        condition = resource.get("Condition")
        return condition is None or self.condition(condition)

    def attribute(self, logical_id: str, name: str) -> str:
        if logical_id not in self.resources:
            raise TemplateError(f"reference to unknown resource {logical_id}")
        attributes = self.naming.physical(logical_id, self.resources[logical_id])
        # An attribute of something not emulated (a KMS key, an alarm): a stand-in value.
        return attributes.get(name, f"local-{logical_id}-{name}")

    def ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        return self.attribute(name, "Ref")

    def value(self, node: Any) -> Any:
        """`node` with every intrinsic function evaluated."""
        if isinstance(node, list):
            return [v for v in (self.value(item) for item in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Condition":
                return self.condition(argument)
            if key.startswith("Fn::"):
                return self._function(key[4:], argument)
        resolved = {key: self.value(item) for key, item in node.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _function(self, name: str, argument: Any) -> Any:
        if name == "GetAtt":
            logical_id, attribute = (
                argument if isinstance(argument, list) else str(argument).split(".", 1)
            )
            return self.attribute(self.value(logical_id), self.value(attribute))
        if name == "Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            return self._sub(text, {k: self.value(v) for k, v in variables.items()})
        if name == "If":
            condition, when_true, when_false = argument
            return self.value(when_true if self.condition(condition) else when_false)
        arguments = self.value(argument)
        if name == "Equals":
            return str(arguments[0]) == str(arguments[1])
        if name == "Not":
            return not arguments[0]
        if name == "And":
            return all(arguments)
        if name == "Or":
            return any(arguments)
        if name == "Join":
            return str(arguments[0]).join(str(v) for v in arguments[1])
        if name == "Select":
            return arguments[1][int(arguments[0])]
        if name == "Split":
            return str(arguments[1]).split(str(arguments[0]))
        if name == "GetAZs":
            return [f"{self.naming.region}{zone}" for zone in "abc"]
        raise TemplateError(f"Fn::{name} is not supported by the local stack")

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] in self.resources:
                return self.attribute(*name.split(".", 1))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)
