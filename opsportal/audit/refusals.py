"""Refused attempts through the admin, each with its row: a mixin for the model admins.

Django's admin refuses a POST its user may not make in two ways, neither recorded: a form or a delete
answers 403, and a bulk action the change list did not offer (``action=refresh_now`` posted by a Viewer)
answers 200 with "No action selected." and does nothing. With this mixin both answer 403 and write a
``refused`` row (capped per actor and action a minute, like every refusal: ``audit_refusal_record``).
"""

from __future__ import annotations

from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied

from opsportal.audit.services import Actor, audit_refusal_record


class RefusalsAudited:
    """For a ``ModelAdmin``: every POST its user may not make is refused with a 403 and recorded.

    ``refused_names`` maps an operation (``create``, ``change``, ``delete``, or a bulk action's name) to the
    action name the trail uses for it when allowed; otherwise ``app.model.create|change|delete`` and, for a
    bulk action, ``app.action`` (the operator actions' own names: ``plannings.refresh_now``).
    """

    refused_names: dict[str, str] = {}

    def _refused_name(self, operation: str, *, bulk: bool) -> str:
        if operation in self.refused_names:
            return self.refused_names[operation]
        opts = self.opts
        if bulk and operation != "delete_selected":
            return f"{opts.app_label}.{operation}"
        verb = "delete" if operation == "delete_selected" else operation
        return f"{opts.app_label}.{opts.model_name}.{verb}"

    def audit_refusal(self, request, operation: str, targets: list[str], *, bulk: bool = False, detail: str = ""):
        audit_refusal_record(
            actor=Actor.portal(request.user),
            action=self._refused_name(operation, bulk=bulk),
            target_type=self.opts.model_name,
            targets=targets,
            detail=detail or f"not allowed: {operation} ({request.path})",
        )
        raise PermissionDenied(detail or f"not allowed: {operation}")

    def changelist_view(self, request, extra_context=None):
        action = request.POST.get("action", "") if request.method == "POST" else ""
        if action and action not in self.get_actions(request):
            every = {name for _func, name, _desc in self._get_base_actions()}
            if action in every:  # an action this user is not offered: refused, not "No action selected."
                chosen = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
                across = request.POST.get("select_across") == "1"
                self.audit_refusal(request, action, ["(all)"] if across else chosen, bulk=True,
                                   detail=f"not allowed: the action {action}")  # fmt: skip
        return super().changelist_view(request, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST":
            if object_id is None and not self.has_add_permission(request):
                self.audit_refusal(request, "create", ["new"])
            if object_id is not None and not self.has_change_permission(request, None):
                self.audit_refusal(request, "change", [str(object_id)])
        return super().changeform_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        if request.method == "POST" and not self.has_delete_permission(request, None):
            self.audit_refusal(request, "delete", [str(object_id)])
        return super().delete_view(request, object_id, extra_context)
