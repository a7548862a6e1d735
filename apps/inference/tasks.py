"""Inference tasks. `run_block` goes to queue `gpu` (one worker per GPU, prefetch 1, acks
late: a worker that dies mid-block leaves it to another); `assemble_run` to the default
queue (settings.CELERY_TASK_ROUTES)."""

from ocsge_web.celery import app

from . import orchestration

BLOCK_RETRIES = 2


@app.task(bind=True, acks_late=True, max_retries=BLOCK_RETRIES, default_retry_delay=30)
def run_block(self, block_id: int) -> str:
    try:
        return orchestration.run_block(block_id)
    except Exception as exc:
        final = self.request.retries >= BLOCK_RETRIES or self.request.is_eager
        orchestration.block_failed(block_id, f"{type(exc).__name__}: {exc}", final=final)
        if final:
            raise
        raise self.retry(exc=exc) from exc


@app.task(acks_late=True)
def assemble_run(run_id: int) -> str:
    return orchestration.assemble(run_id)


@app.task(acks_late=True)
def finetune_task(version_id: int, options: dict | None = None) -> str:
    """Fine-tune a registered version on its département's corrections (queue `gpu`)."""
    from .finetune import run

    return run(version_id, **(options or {})).state
