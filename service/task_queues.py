"""Whether any worker serves a task queue: asked before waiting on one, so a command that needs a
worker says so instead of waiting in silence."""

from __future__ import annotations

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client


async def workflow_pollers(client: Client, task_queue: str) -> int:
    """How many workers polled the queue for workflow tasks lately (the server keeps the last minutes)."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    response = await client.workflow_service.describe_task_queue(request)
    return len(response.pollers)
