"""The worker interceptor that notes every update its validator refuses, then lets the refusal go on.

The worker hands `workflow_interceptor_class`'s class into the workflow sandbox as it is (it is not
re-imported there), so its methods see this module's globals: the buffer they fill is the worker's
own, shared with the writer thread. Noting costs a digest and a non-blocking put, and the caller gets
the very exception the validator raised. Validators do not run when a history is replayed, and the
`is_replaying` check keeps it so should that change: a replay writes nothing again.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.worker import (
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from service.refusals.buffer import RefusalBuffer
from service.refusals.record import refusal_of


class RefusalLogInterceptor(Interceptor):
    def __init__(self, buffer: RefusalBuffer) -> None:
        self.buffer = buffer
        # A class per log, bound to its buffer: the SDK builds the inbound interceptor with `next` only.
        self._inbound = type("RefusalLogInbound", (_RefusalLogInbound,), {"buffer": buffer})

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        return self._inbound


class _RefusalLogInbound(WorkflowInboundInterceptor):
    buffer: RefusalBuffer

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        try:
            self.next.handle_update_validator(input)
        except workflow.ReadOnlyContextError:
            raise  # a validator that tried to change the case: a bug that fails the task, not a refusal
        except Exception as refused:
            if not workflow.unsafe.is_replaying():
                self._note(input, refused)
            raise

    def _note(self, input: HandleUpdateInput, refused: Exception) -> None:
        try:
            refusal = refusal_of(
                workflow_id=workflow.info().workflow_id,
                update_id=input.id,
                update_name=input.update,
                args=input.args,
                reason=str(refused),
                at=workflow.now(),
            )
        except Exception as exc:  # a record that cannot be built must not change the caller's answer
            workflow.logger.warning("refused update not logged: %s", type(exc).__name__)
            return
        self.buffer.offer(refusal)
