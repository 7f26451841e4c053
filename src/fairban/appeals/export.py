"""Data export (principle 8): the person's copy of the account's data, fetched from the
platform that holds it (``GET /accounts/{id}/export``, signed like a webhook, through
:mod:`fairban.platforms.client`) and kept
as a content-addressed blob for download. Works whatever the measure."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy.orm import Session

from fairban import audit
from fairban.appeals.blobs import BlobStore
from fairban.appeals.models import DataExport, ExportState
from fairban.audit.actions import Action
from fairban.cases.models import Case
from fairban.errors import FairbanError
from fairban.platforms.client import export_account

TIMEOUT_S = 10.0


def request_export(session: Session, case: Case, blobs: BlobStore, now: datetime) -> DataExport:
    """Fetch the export now; the row says ``ready`` (with the blob's hash) or
    ``failed`` (with why, for the person: try again later). Audited either way."""
    export = DataExport(case_id=case.id, requested_at=now, state=ExportState.FAILED)
    try:
        found = export_account(session, case.platform, case.account_id, timeout_s=TIMEOUT_S)
    except FairbanError as e:
        export.error = str(e)[:300]
    else:
        # a platform with no record of the account still answers: with nothing held
        document = found if found is not None else {"platform": case.platform, "held": None}
        data = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
        export.sha256 = blobs.put(data)
        export.size = len(data)
        export.state = ExportState.READY
    session.add(export)
    session.flush()
    audit.append(
        session,
        actor=f"appellant:{case.number}",
        action=Action.APPEAL_EXPORT,
        subject=f"case:{case.number}",
        payload={"export": export.id, "state": export.state.value, "sha256": export.sha256},
    )
    return export
