"""Production mode: Celery workers and one beat on a Redis broker, PostgreSQL the source
of truth (docs/deployment.md). `AFTERSALE_BROKER_URL` switches it on; without it the
embedded worker loop does the same work in `aftersale serve`.

The Celery app is `aftersale.production.celery.app` (`celery -A aftersale.production`);
its tasks (`tasks`) are thin: they call the worker's pass parts (worker.loop, worker.jobs),
the same functions the embedded loop calls. The web process enqueues the background runs
it stores after their transaction commits (`enqueue`)."""
