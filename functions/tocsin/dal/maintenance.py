"""Runtime maintenance windows (config-file windows live in the configuration)."""

from __future__ import annotations

import time

from tocsin.dal import schema
from tocsin.dal.aws import client
from tocsin.dal.dynamo import query_all, ser, ser_value
from tocsin.domain.config import MaintenanceWindow

CACHE_SECONDS = 15.0
PK = "MAINT#window"


class MaintenanceRepository:
    def __init__(self, table: str) -> None:
        self.table = table
        self.ddb = client("dynamodb")
        self._cache: tuple[float, list[MaintenanceWindow]] | None = None

    def put(self, window: MaintenanceWindow) -> None:
        item = {
            schema.PK: PK,
            schema.SK: window.id,
            "type": "maintenance",
            **window.model_dump(mode="json"),
        }
        # expire the record a day after the window ends
        item[schema.TTL_ATTRIBUTE] = int(window.ends_at.timestamp()) + 86400
        self.ddb.put_item(TableName=self.table, Item=ser(item))
        self._cache = None

    def delete(self, window_id: str) -> bool:
        resp = self.ddb.delete_item(
            TableName=self.table,
            Key=ser({schema.PK: PK, schema.SK: window_id}),
            ReturnValues="ALL_OLD",
        )
        self._cache = None
        return "Attributes" in resp

    def list(self, cached: bool = False) -> list[MaintenanceWindow]:
        if cached and self._cache and time.monotonic() - self._cache[0] < CACHE_SECONDS:
            return self._cache[1]
        items = query_all(
            self.ddb,
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": ser_value(PK)},
        )
        windows = [
            MaintenanceWindow.model_validate(
                {k: v for k, v in item.items() if k in MaintenanceWindow.model_fields}
            )
            for item in items
        ]
        self._cache = (time.monotonic(), windows)
        return windows
