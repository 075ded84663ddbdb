"""Print (JSON) the rq queue names the app declares, for the run to start workers on all of them.

Read from the settings of the environment's configuration layer (every ``RQ_*QUEUE*`` setting: a
name, a list of names, or a mapping whose values — or keys — are names), from any ``*QUEUES``
attribute of ``app.core.queue``, and from the queues the periodic schedule (``app.schedule``)
registers its jobs on. When ``app.core.queue`` says which queues each kind of worker serves
(``worker_queues(settings)``), that is printed too, so the run starts workers the way production
does. Run with the app's environment variables: ``python -m bench.faults.queues``.
"""
import json
import sys


def _names(value):
    if isinstance(value, str):
        return [value] if value and value.replace("-", "").replace("_", "").replace(":", "").isalnum() else []
    if isinstance(value, dict):
        values = [v for v in value.values() if isinstance(v, str)]
        if values:
            return [n for v in values for n in _names(v)]
        return [n for k in value for n in _names(k)]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [n for v in value for n in _names(v)]
    return []


def declared():
    import config

    found = []
    settings = config.load()
    for key, value in settings.items():
        if key.startswith("RQ_") and "QUEUE" in key:
            found += _names(value)
    try:
        from app.core import queue as queue_module

        for attr in dir(queue_module):
            if attr.isupper() and attr.endswith("QUEUES"):
                found += _names(getattr(queue_module, attr))
    except Exception:
        pass
    try:
        import rq.cron

        rq.cron._job_data_registry = []
        import app.schedule  # noqa: F401  (registers its jobs)

        for data in list(rq.cron._job_data_registry):
            found += _names(data.get("queue_name"))
    except Exception as exc:
        print(f"schedule not read: {exc}", file=sys.stderr)
    queues = list(dict.fromkeys(found)) or ["default"]
    kinds = None
    try:
        from app.core import queue as queue_module

        if hasattr(queue_module, "worker_queues"):
            kinds = {str(k): _names(v) for k, v in queue_module.worker_queues(settings).items()}
    except Exception as exc:
        print(f"worker kinds not read: {exc}", file=sys.stderr)
    if kinds:  # whatever a kind of worker serves is declared too
        queues = list(dict.fromkeys(queues + [n for names in kinds.values() for n in names]))
    return {"queues": queues, "workers": kinds}


if __name__ == "__main__":
    print(json.dumps(declared()))
