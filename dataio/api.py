"""REST endpoints of data in and out: import items into a project, export them as a file."""
from __future__ import annotations

import io

import orjson
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import permissions
from common.parsers import LimitedJSONParser
from dataio import export
from dataio.importing import DUPLICATE_POLICIES, ImportOptions, import_into, import_upload, schema_of
from dataio.preview import PREVIEW_RECORDS, preview
from dataio.readers import ReadOptions
from dataio.records import decode_array, iter_array
from tasks.access import check_role, get_project
from tasks.models import FinalSource, ItemStatus, Job

ImportResponse = inline_serializer("ImportResponse", {
    "imported": serializers.IntegerField(), "updated": serializers.IntegerField(),
    "skipped": serializers.IntegerField(), "annotations": serializers.IntegerField()})
JobResponse = inline_serializer("JobStarted", {"job": serializers.IntegerField()})

_IMPORT_PARAMETERS = [
    OpenApiParameter("format", enum=["json", "jsonl", "csv", "parquet", "zip", "image", "label_studio"],
                     description="How to read the files; by default from each file's extension."),
    OpenApiParameter("on_duplicate", enum=list(DUPLICATE_POLICIES),
                     description="A record whose external_id the project has: refuse the import (error), "
                                 "leave the item as it is (skip), or replace its data (update)."),
    OpenApiParameter("labels_as", enum=["gold", "annotations", "predictions"],
                     description="What labels that come with the records become."),
    OpenApiParameter("annotator", str, description="Username imported annotations are attributed to when the "
                                                   "file does not say."),
    OpenApiParameter("text_column", str, description="CSV and Parquet: the column holding the text (default `text`)."),
    OpenApiParameter("columns", str, description="CSV and Parquet: comma-separated columns that go into the item's "
                                                 "data."),
    OpenApiParameter("label_column", str, description="CSV, Parquet and flat JSON: a column holding an existing "
                                                      "label."),
]


def _import_options(request) -> ImportOptions:
    """Options from the query string or, for uploads, the form fields."""
    def get(name):
        return request.query_params.get(name) or (request.POST.get(name) if hasattr(request, "POST") else None)

    columns = get("columns")
    try:
        read_options = ReadOptions(
            format=get("format") or None, text_column=get("text_column") or "text",
            columns=[c.strip() for c in columns.split(",") if c.strip()] if columns else None,
            label_column=get("label_column") or None, labels_as=get("labels_as") or "gold",
            annotator=get("annotator") or None)
    except ValueError as exc:
        raise ValidationError({"options": [str(exc)]}) from None
    policy = get("on_duplicate") or "error"
    if policy not in DUPLICATE_POLICIES:
        raise ValidationError({"on_duplicate": [f"Must be one of {', '.join(DUPLICATE_POLICIES)}."]})
    return ImportOptions(read=read_options, on_duplicate=policy)


# The import's body: a JSON array of records, or files uploaded as `file` (one or more).
_UPLOAD_BODY = {"application/json": {"type": "array", "items": {"type": "object"}},
                "multipart/form-data": {"type": "object", "properties": {"file": {
                    "type": "array", "items": {"type": "string", "format": "binary"}}}}}


def _uploads(request) -> list:
    uploads = request.FILES.getlist("file")
    if not uploads:
        raise ValidationError({"file": ["Attach the records as one or more files named 'file'."]})
    return uploads


class ImportView(APIView):
    """Import items: a JSON array body, or uploaded files (`file=`, repeatable): .json, .jsonl, .csv, .parquet,
    Label Studio JSON, a .zip of images or image files. All-or-nothing; large uploads run as a job."""

    parser_classes = [LimitedJSONParser, MultiPartParser]

    @extend_schema(
        parameters=_IMPORT_PARAMETERS,
        request=_UPLOAD_BODY,
        responses={201: ImportResponse, 202: JobResponse},
    )
    def post(self, request, pk):
        project = get_project(request.user, pk)
        check_role(request.user, permissions.MANAGE, "import items")
        options = _import_options(request)
        if request.content_type.startswith("multipart/"):
            outcome = import_upload(project, _uploads(request), options, user=request.user)
            if isinstance(outcome, Job):
                return Response({"job": outcome.pk}, status=status.HTTP_202_ACCEPTED)
            return Response(outcome.as_dict(), status=status.HTTP_201_CREATED)
        records = iter_array(decode_array(request.data), schema_of(project), options.read)
        result = import_into(project, records, on_duplicate=options.on_duplicate, user=request.user)
        return Response(result.as_dict(), status=status.HTTP_201_CREATED)


PreviewResponse = inline_serializer("ImportPreview", {
    "format": serializers.ChoiceField(["json", "jsonl", "csv", "parquet", "zip", "image", "label_studio"],
                                      allow_null=True,
                                      help_text="How the files are read (Label Studio JSON is recognised)."),
    "columns": serializers.ListField(child=serializers.CharField(), allow_null=True,
                                     help_text="CSV: the header's columns, in order."),
    "header_bytes": serializers.IntegerField(allow_null=True, help_text="CSV: the header row's length in bytes."),
    "records": serializers.ListField(child=inline_serializer("PreviewRecord", {
        "unit": serializers.CharField(), "number": serializers.IntegerField(),
        "data": serializers.DictField(), "external_id": serializers.CharField(allow_null=True),
        "gold": serializers.DictField(allow_null=True), "prediction": serializers.DictField(allow_null=True),
        "annotations": serializers.ListField(child=serializers.DictField()),
        "final": serializers.DictField(allow_null=True)}),
        help_text=f"The first {PREVIEW_RECORDS} records as they would be stored."),
    "more": serializers.BooleanField(help_text="More records follow (or may: the file was cut off)."),
    "error": inline_serializer("PreviewError", {
        "detail": serializers.CharField(), "unit": serializers.CharField(),
        "number": serializers.IntegerField(allow_null=True), "field": serializers.CharField(allow_null=True),
        "message": serializers.CharField()}, allow_null=True,
        help_text="The first bad record (its line, row, record or zip entry), or null."),
})


class ImportPreviewView(APIView):
    """What an import of these files would do, storing nothing: the format, a CSV's columns, the first
    records as they would be stored, or the first error with its line number. Takes the import's
    upload (or JSON array body) and options; `partial=true` says the (last) file is only the first bytes
    of a longer one."""

    parser_classes = [LimitedJSONParser, MultiPartParser]

    @extend_schema(
        parameters=[*_IMPORT_PARAMETERS, OpenApiParameter(
            "partial", bool, default=False, description="The last file is the beginning of a longer file "
                                                        "(a browser sends `file.slice(0, n)`).")],
        request=_UPLOAD_BODY,
        responses={200: PreviewResponse},
    )
    def post(self, request, pk):
        project = get_project(request.user, pk)
        check_role(request.user, permissions.MANAGE, "import items")
        options = _import_options(request)
        if request.content_type.startswith("multipart/"):
            uploads = _uploads(request)
        else:  # a JSON array body, read as the .json file it could have been
            body = io.BytesIO(orjson.dumps(decode_array(request.data)))
            body.name = "records.json"
            uploads = [body]
        partial = (request.query_params.get("partial") or request.POST.get("partial") or "") in ("true", "1")
        return Response(preview(project, uploads, options.read, on_duplicate=options.on_duplicate, partial=partial))


EXPORT_PARAMETERS = [
    OpenApiParameter("format", enum=list(export.FORMATS), default="json", description="; ".join(
        f"`{f.name}`: {f.description}" + (f" ({', '.join(f.task_types)} projects only)" if f.task_types else "")
        for f in export.FORMATS.values())),
    OpenApiParameter("status", enum=ItemStatus.values, many=True, explode=True,
                     description="Only items with these statuses (repeat the parameter, or separate by commas)."),
    OpenApiParameter("source", enum=FinalSource.values, many=True, explode=True,
                     description="Only items whose final value came from these sources (repeatable, or "
                                 "comma-separated)."),
    OpenApiParameter("only_final", bool, default=False, description="Only items with a final value."),
    OpenApiParameter("since", str, description=(
        "ISO date or date-time: only items from then on. It applies to when the final value was set when the "
        "export holds final values only (`only_final`, `source`, or the coco, conll, preference and pairs formats), "
        "and to when the item was imported otherwise. A time without an offset is UTC.")),
    OpenApiParameter("until", str, description=(
        "ISO date or date-time, inclusive (a date includes that whole day); applies to the same time as `since`.")),
    OpenApiParameter("ties", enum=list(export.filters.TIES), default="exclude",
                     description="preference format: leave ties out (default) or include them with `\"tie\": true`."),
]


# The JSON formats are JSON documents, not opaque bytes: an array of records (json, label_studio) or,
# for coco, one object.
EXPORT_JSON = {"oneOf": [{"type": "array", "items": {"type": "object", "additionalProperties": {}}},
                         {"type": "object", "additionalProperties": {}}],
               "description": "json and label_studio: an array of item records; coco: a COCO object."}


class ExportView(APIView):
    """Stream a project's items (with final values, annotations and predictions) as a file."""

    @extend_schema(
        parameters=EXPORT_PARAMETERS,
        responses={(200, content_type.split(";")[0]): EXPORT_JSON if content_type == "application/json" else bytes
                   for content_type in dict.fromkeys(f.content_type for f in export.FORMATS.values())},
    )
    def get(self, request, pk):
        project = get_project(request.user, pk)
        check_role(request.user, permissions.EXPORT, "export data")
        params = request.query_params
        try:
            filters = export.parse_filters({name: params.getlist(name) for name in params})
            ties = export.parse_ties(params.getlist("ties"))
            result = export.export(project, params.get("format", "json"), filters, ties=ties)
        except export.ExportError as exc:
            raise ValidationError({exc.param: [f"{exc.message[0].upper()}{exc.message[1:]}."]}) from None
        export.record(project, result.format, filters, user=request.user, via="api", ties=ties)
        response = StreamingHttpResponse(result.chunks, content_type=result.format.content_type)
        response["Content-Disposition"] = f'attachment; filename="{result.filename}"'
        return response
