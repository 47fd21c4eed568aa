from django.apps import AppConfig


class KernelConfig(AppConfig):
    name = "revops.kernel"
    label = "kernel"
    verbose_name = "Platform (events, audit, idempotency)"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import roles

        post_migrate.connect(roles.sync_role_permissions, dispatch_uid="revops.kernel.sync_roles")
