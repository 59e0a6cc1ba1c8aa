"""On PostgreSQL, the database itself refuses to change or delete audit events."""
from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION hitl_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER tasks_auditevent_append_only
    BEFORE UPDATE OR DELETE ON tasks_auditevent
    FOR EACH ROW EXECUTE FUNCTION hitl_audit_append_only();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS tasks_auditevent_append_only ON tasks_auditevent;
DROP FUNCTION IF EXISTS hitl_audit_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("tasks", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
