from django.db import migrations

ROLES = ["sales_rep", "sales_manager", "finance", "customer_success", "admin"]


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)
    # Permissions are granted by revops.kernel.roles.sync_role_permissions after migrate, when every
    # app's permissions exist (they are created in post_migrate, after data migrations run).


def drop_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [("kernel", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_groups, drop_groups)]
