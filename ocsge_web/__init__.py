"""The Django project. Its Celery application (`ocsge_web.celery`) is imported where a task
is defined or sent, and by the worker (`celery -A ocsge_web`), not at every start: a
management command or a web process that sends no task never loads Celery."""
