"""Postmortems: the generated files in the (private) artifact bucket under
`postmortems/<incident id>/`, and the team's written sections in the table (one item per
incident, `INC#<id>` / `POSTMORTEM#SECTIONS`, versioned) so that regenerating never loses
them; `INC#<id>` / `POSTMORTEM#META` says what the stored files were made from (the record's
fingerprint), so the sweeper can tell a stale postmortem without reading it."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tocsin.dal import schema
from tocsin.dal.artifacts import CHAT_FILES_PREFIX
from tocsin.dal.aws import client
from tocsin.dal.dynamo import deser, is_conditional_failure, ser, ser_value
from tocsin.dal.incidents import incident_pk
from tocsin.domain.errors import VersionConflictError

#: key prefix of the generated postmortems (the workflow and API functions may write under it)
POSTMORTEMS_PREFIX = "postmortems/"
SECTIONS_SK = "POSTMORTEM#SECTIONS"
META_SK = "POSTMORTEM#META"
CONTENT_TYPES = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "json": "application/json",
    "svg": "image/svg+xml",
}


def postmortem_key(incident_id: str, name: str) -> str:
    return f"{POSTMORTEMS_PREFIX}{incident_id}/{name}"


class PostmortemStore:
    def __init__(self, table: str, bucket: str) -> None:
        self.table = table
        self.bucket = bucket
        self.ddb = client("dynamodb")
        self.s3 = client("s3")

    # --- the team's sections ------------------------------------------------------------------
    def sections(self, incident_id: str) -> dict[str, Any]:
        """{"sections": {id: text}, "version": n, "updated_at", "updated_by"} (version 0: none)."""
        resp = self.ddb.get_item(
            TableName=self.table,
            Key=ser({schema.PK: incident_pk(incident_id), schema.SK: SECTIONS_SK}),
            ConsistentRead=True,
        )
        if "Item" not in resp:
            return {"sections": {}, "version": 0, "updated_at": None, "updated_by": None}
        item = deser(resp["Item"])
        return {
            "sections": dict(item.get("sections") or {}),
            "version": int(item.get("version", 0)),
            "updated_at": item.get("updated_at"),
            "updated_by": item.get("updated_by"),
        }

    def save_sections(
        self, incident_id: str, sections: dict[str, str], expected: int, at: str, by: str
    ) -> int:
        """Store the sections if the stored version is still `expected` (0: none yet).
        Returns the new version; raises VersionConflictError."""
        item = {
            schema.PK: incident_pk(incident_id),
            schema.SK: SECTIONS_SK,
            "type": "postmortem_sections",
            "sections": sections,
            "version": expected + 1,
            "updated_at": at,
            "updated_by": by,
        }
        condition = "attribute_not_exists(pk)" if expected == 0 else "version = :v"
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Item": ser(item),
            "ConditionExpression": condition,
        }
        if expected:
            kwargs["ExpressionAttributeValues"] = {":v": ser_value(expected)}
        try:
            self.ddb.put_item(**kwargs)
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise VersionConflictError(
                    f"the postmortem's sections changed since version {expected}; reload and retry"
                ) from None
            raise
        return expected + 1

    # --- what the stored files were made from ------------------------------------------------
    def mark_generated(self, incident_id: str, fingerprint: str, at: str) -> None:
        self.ddb.put_item(
            TableName=self.table,
            Item=ser(
                {
                    schema.PK: incident_pk(incident_id),
                    schema.SK: META_SK,
                    "type": "postmortem_meta",
                    "fingerprint": fingerprint,
                    "generated_at": at,
                }
            ),
        )

    def generated_fingerprint(self, incident_id: str) -> str | None:
        """The fingerprint of the stored postmortem; None when none was generated."""
        resp = self.ddb.get_item(
            TableName=self.table,
            Key=ser({schema.PK: incident_pk(incident_id), schema.SK: META_SK}),
            ConsistentRead=True,
        )
        return str(deser(resp["Item"])["fingerprint"]) if "Item" in resp else None

    # --- files --------------------------------------------------------------------------------
    def put(self, incident_id: str, name: str, body: bytes, content_type: str) -> str:
        key = postmortem_key(incident_id, name)
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ContentDisposition="attachment",
        )
        return key

    def get(self, incident_id: str, name: str) -> bytes | None:
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=postmortem_key(incident_id, name))
        except ClientError as exc:
            # without s3:ListBucket (least privilege) a missing key answers AccessDenied
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "AccessDenied"}:
                return None
            raise
        return bytes(obj["Body"].read())

    def copy_image(self, source_key: str, incident_id: str, name: str) -> str:
        """A shared image's copy beside the Markdown (`images/<name>`), for GitHub."""
        key = postmortem_key(incident_id, f"images/{name}")
        self.s3.copy_object(
            Bucket=self.bucket,
            Key=key,
            CopySource={"Bucket": self.bucket, "Key": source_key},
        )
        return key

    def chat_file(self, key: str, max_bytes: int) -> tuple[bytes | None, str]:
        """A copied chat file's bytes if it is no larger than `max_bytes` (else None, and
        why). Only keys under the chat files' prefix are read."""
        if not key.startswith(CHAT_FILES_PREFIX) or ".." in key:
            return None, "not a chat file copy"
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError:
            return None, "copy not found"
        size = int(head.get("ContentLength", 0))
        if size > max_bytes:
            return None, f"too large to embed ({size} bytes > {max_bytes})"
        obj = self.s3.get_object(Bucket=self.bucket, Key=key)
        return bytes(obj["Body"].read()), ""
