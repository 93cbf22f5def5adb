"""The template's functions, each loaded from its own folder and run like one Lambda container."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from leadscore_tools.intrinsics import ACCOUNT_ID
from leadscore_tools.local.logs import log
from leadscore_tools.template import Function


@dataclass
class LambdaContext:
    """What a handler sees of the Lambda runtime; the deadline comes from the template's Timeout."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline: float  # time.monotonic()
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class FunctionMissing(Exception):
    """The function's code is not there (yet)."""


@dataclass
class LocalFunction:
    """One function of the template. Like a single warm Lambda container it handles one
    invocation at a time (Powertools' resolver keeps the current event on the app)."""

    spec: Function
    region: str
    _module: ModuleType | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _missing_logged: bool = False
    _last_error: str = ""

    @property
    def name(self) -> str:
        return self.spec.logical_id

    def _path(self) -> Any:
        module, _ = self.spec.handler.rsplit(".", 1)
        return self.spec.code_uri / (module.replace(".", "/") + ".py")

    def available(self) -> bool:
        return self._module is not None

    def load(self) -> ModuleType:
        """Import the handler's module by file path (functions/<name>/app.py), once."""
        if self._module is not None:
            return self._module
        path = self._path()
        if not path.is_file():
            if not self._missing_logged:
                log.warning("%s: %s does not exist yet; not invoked until it does", self.name, path)
                self._missing_logged = True
            raise FunctionMissing(f"{self.name}: {path} does not exist")
        module_name = f"local_function_{self.name}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        self._module = module
        log.debug("%s loaded from %s", self.name, path)
        return module

    def load_if_present(self) -> None:
        """Load the code once it exists (a function may be written while the stack runs)."""
        try:
            with self._lock:
                self.load()
        except FunctionMissing:
            pass
        except Exception as error:  # half-written code: say so once per distinct error
            if repr(error) != self._last_error:
                self._last_error = repr(error)
                log.exception("%s could not be loaded", self.name)

    def handler(self) -> Callable[[Any, Any], Any]:
        function_name = self.spec.handler.rsplit(".", 1)[1]
        handler: Callable[[Any, Any], Any] = getattr(self.load(), function_name)
        return handler

    def invoke(self, event: Any) -> Any:
        """Run the handler on `event`; exceptions propagate, as a failed invocation."""
        with self._lock:
            handler = self.handler()
            context = LambdaContext(
                function_name=self.spec.name,
                memory_limit_in_mb=self.spec.memory,
                invoked_function_arn=(
                    f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.spec.name}"
                ),
                aws_request_id=str(uuid.uuid4()),
                deadline=time.monotonic() + self.spec.timeout,
                log_group_name=f"/aws/lambda/{self.spec.name}",
            )
            return handler(event, context)
