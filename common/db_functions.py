"""Database functions the models use as defaults."""
from django.db import models


class TransactionStart(models.Func):
    """When the transaction began: PostgreSQL's CURRENT_TIMESTAMP, the same for every statement of it (Django's
    `Now` is the statement's). A bulk write that leaves its time columns to their defaults gets one time for all
    its statements, the one `SELECT now()` tells it beforehand."""

    template = "CURRENT_TIMESTAMP"
    output_field = models.DateTimeField()
