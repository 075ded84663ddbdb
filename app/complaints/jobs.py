"""Complaint jobs: the SLA sweep (every minute). Its emails go out through the kernel outbox
(``core.outbox``, jobs ``send_notification`` and ``flush_outbox`` in ``core.jobs``)."""


def sla_sweep():
    from app.complaints import services

    return services.sweep()
