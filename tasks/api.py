"""REST endpoints of the core: projects, members, import, items, next, jobs."""
from __future__ import annotations

from django.db.models import Case, F, Value, When
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import permissions
from accounts.models import User
from accounts.serializers import UserSerializer
from tasks import jobs, queue, services, signals
from tasks.access import check_role, get_item, get_job, get_project, get_project_for_labeling
from tasks.models import ItemStatus, Job, JobState, Membership, Project
from tasks.serializers import (
    ItemSerializer,
    JobSerializer,
    MemberSerializer,
    ProjectSerializer,
    QueueItemSerializer,
    queue_item_data,
    sees_gold,
)


class ProjectListView(generics.ListCreateAPIView):
    """Projects the caller may see; admins create them."""

    serializer_class = ProjectSerializer

    def get_queryset(self):
        return Project.objects.visible_to(self.request.user).order_by("id")

    def create(self, request, *args, **kwargs):
        # Before validation, so a non-admin gets 403 whatever the body, not a 400 about its fields.
        check_role(request.user, permissions.MANAGE, "create projects")
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        serializer.instance = services.create_project(user=self.request.user, **serializer.validated_data)


class ProjectDetailView(generics.RetrieveUpdateAPIView):
    """A project's settings; only admins change them."""

    serializer_class = ProjectSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self):
        project = get_project(self.request.user, self.kwargs["pk"])
        # Here rather than in perform_update: after the 404 for outsiders, before validation.
        if self.request.method not in SAFE_METHODS:
            check_role(self.request.user, permissions.MANAGE, "change project settings")
        return project

    def perform_update(self, serializer):
        serializer.instance = services.update_project(
            serializer.instance, user=self.request.user, **serializer.validated_data
        )


class MembersView(APIView):
    """List a project's members; admins add them."""

    @extend_schema(responses=UserSerializer(many=True))
    def get(self, request, pk):
        project = get_project(request.user, pk)
        users = User.objects.filter(
            id__in=Membership.objects.filter(project=project).values("user_id")
        ).order_by("id")
        return Response(UserSerializer(users, many=True).data)

    @extend_schema(request=MemberSerializer, responses={201: UserSerializer, 200: UserSerializer})
    def post(self, request, pk):
        project = get_project(request.user, pk)
        check_role(request.user, permissions.MANAGE, "add members")
        serializer = MemberSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = User.objects.filter(pk=serializer.validated_data["user"], is_active=True).first()
        if member is None:
            raise ValidationError({"user": ["No such user."]})
        created = services.add_member(project, member, user=request.user)
        return Response(UserSerializer(member).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class MemberDetailView(APIView):
    """Remove a member (admins)."""

    @extend_schema(responses={204: None})
    def delete(self, request, pk, user_id):
        project = get_project(request.user, pk)
        check_role(request.user, permissions.MANAGE, "remove members")
        member = get_object_or_404(User, pk=user_id)
        if not services.remove_member(project, member, user=request.user):
            return Response({"detail": "Not a member."}, status=status.HTTP_404_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ItemListView(generics.ListAPIView):
    """A project's items, in queue order of import, filtered by `status`."""

    serializer_class = ItemSerializer

    @extend_schema(parameters=[OpenApiParameter("status", enum=[s.value for s in ItemStatus])])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        project = get_project(self.request.user, self.kwargs["pk"])
        qs = project.items.order_by("id")
        wanted = self.request.query_params.get("status")
        if wanted:
            if wanted not in ItemStatus.values:
                raise ValidationError({"status": [f"Unknown status; use one of {ItemStatus.values}."]})
            if sees_gold(self.request):
                qs = qs.filter(status=wanted)
            else:  # the status annotators are shown: gold items look queued (tasks.serializers.hide_gold)
                qs = qs.alias(shown=Case(When(gold__isnull=False, then=Value(ItemStatus.QUEUED.value)),
                                         default=F("status"))).filter(shown=wanted)
        return qs


NextResponse = inline_serializer(
    "NextItem",
    {"item": QueueItemSerializer(), "prediction": serializers.JSONField(allow_null=True),
     "lease_expires_at": serializers.DateTimeField(),
     "feedback": serializers.JSONField(required=False, help_text="Only for an item sent back to the caller "
                                       "for rework: the reviewer's comment and the rejected value.")},
)


class NextView(APIView):
    """Lease the caller's next item (204 when nothing is left for them)."""

    @extend_schema(
        parameters=[OpenApiParameter("exclude", str, description="Comma-separated item ids to pass over "
                                     "(items already on screen), for prefetching.")],
        responses={200: NextResponse, 204: None},
    )
    def get(self, request, pk):
        # The project, the caller's membership and their standing (for the queue's gate) in one statement.
        project = get_project_for_labeling(request.user, pk)
        check_role(request.user, permissions.LABEL, "label items")
        try:
            exclude = [int(x) for x in request.query_params.get("exclude", "").split(",") if x.strip()]
        except ValueError:
            raise ValidationError({"exclude": ["Must be comma-separated item ids."]}) from None
        lease = queue.next_item(project, request.user, exclude=exclude)
        if lease is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        body = {
            "item": queue_item_data(lease.item),
            "prediction": lease.item.prediction,
            "lease_expires_at": lease.expires_at,
        }
        for _, extra in signals.next_served.send(sender=NextView, item=lease.item, user=request.user):
            body.update(extra or {})
        return Response(body)


class ReleaseView(APIView):
    """Give back the caller's lease on an item (a prefetched item the annotator will not see)."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request, pk):
        item = get_item(request.user, pk)
        queue.release(item, request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class JobView(generics.RetrieveAPIView):
    """A job's state, progress and outcome."""

    serializer_class = JobSerializer

    def get_object(self):
        return get_job(self.request.user, self.kwargs["pk"])


class JobRetryView(APIView):
    """Run a failed or stalled job again (its starter or an admin)."""

    @extend_schema(request=None, responses={202: JobSerializer})
    def post(self, request, pk):
        job = get_job(request.user, pk)
        if not (request.user.is_admin or job.created_by_id == request.user.pk):
            raise PermissionDenied("Only the job's starter or an admin may retry it.")
        if job.state == "succeeded":
            raise ValidationError({"state": ["The job already succeeded."]})
        job = jobs.retry(job)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ProjectJobsView(generics.ListAPIView):
    """The project's recent jobs, newest first; `kind` (repeatable) and `state` filter, `limit` caps."""

    serializer_class = JobSerializer
    pagination_class = None

    @extend_schema(parameters=[OpenApiParameter("kind", str, many=True), OpenApiParameter("state", str),
                               OpenApiParameter("limit", int)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        project = get_project(self.request.user, self.kwargs["pk"])
        jobs_ = Job.objects.filter(project=project).order_by("-id")
        kinds = [k for value in self.request.query_params.getlist("kind") for k in value.split(",") if k]
        unknown = sorted(set(kinds) - set(jobs.kinds()))
        if unknown:
            raise ValidationError({"kind": [f"Unknown job kind {unknown[0]!r}; one of {', '.join(jobs.kinds())}."]})
        if kinds:
            jobs_ = jobs_.filter(kind__in=kinds)
        state = self.request.query_params.get("state")
        if state:
            if state not in JobState.values:
                raise ValidationError({"state": [f"One of {', '.join(JobState.values)}."]})
            jobs_ = jobs_.filter(state=state)
        try:
            limit = int(self.request.query_params.get("limit", 20))
        except ValueError:
            raise ValidationError({"limit": ["Must be a whole number."]}) from None
        if not 1 <= limit <= 200:
            raise ValidationError({"limit": ["Must be between 1 and 200."]})
        return jobs_[:limit]
