"""Query options of list, watch and write requests, parsed and validated as kube-apiserver does."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from apiserver import errors
from apiserver.continuetoken import ContinueError, decode_continue
from apiserver.kinds.base import Kind, Obj
from apiserver.selectors import FieldSelector, LabelSelector, SelectorError
from apiserver.validation import field as fielderr

MIN_REQUEST_TIMEOUT = 1800.0


def parse_bool(value: str | None) -> bool | None:
    """A boolean query parameter as upstream's parameter codec converts it (Convert_Slice_string_To_bool):
    "0" and "false" (any case) are false, anything else, even "" or "maybe", is true; None when absent."""
    if value is None:
        return None
    return not (value == "0" or value.lower() == "false")


def parse_rv(value: str, storage: bool = False) -> int:
    """A resourceVersion query value as an integer. Anything else fails where it is parsed upstream: in the
    watch cache a 500 without reason, in storage (`storage`: an exact or paged list) a 400."""
    if value.isdigit():
        return int(value)
    error = f'resourceVersion: Invalid value: "{value}": strconv.ParseUint: parsing "{value}": invalid syntax'
    if storage:
        raise errors.bad_request(f"invalid resource version: {error}")
    raise errors.untyped(500, error)


def allowed_field_selectors(kind: Kind) -> list[str]:
    base = ["metadata.name", "metadata.namespace"] if kind.namespaced else ["metadata.name"]
    return base + list(kind.extra_field_selectors)


def _name(obj: Obj) -> str:
    return str(obj["metadata"].get("name", ""))


def _namespace(obj: Obj) -> str:
    return str(obj["metadata"].get("namespace", ""))


def field_getters(kind: Kind) -> dict[str, Callable[[Obj], str]]:
    """How to read each field a selector of `kind` may name, the most selective first."""
    getters: dict[str, Callable[[Obj], str]] = {"metadata.name": _name, **kind.extra_field_selectors}
    if kind.namespaced:
        getters["metadata.namespace"] = _namespace
    return getters


def object_fields(kind: Kind, obj: dict[str, object]) -> dict[str, str]:
    """The field-selector attributes of one object."""
    fields = {"metadata.name": _name(obj), "metadata.namespace": _namespace(obj)}
    for name, get in kind.extra_field_selectors.items():
        fields[name] = get(obj)
    return fields


@dataclass
class ListOptions:
    """A list or watch request's options."""

    label_selector: LabelSelector = field(default_factory=LabelSelector)
    field_selector: FieldSelector | None = None
    limit: int = 0
    continue_rv: int = 0
    continue_start: str = ""
    resource_version: str = ""
    rv_match: str = ""
    watch: bool = False
    allow_bookmarks: bool = False
    send_initial_events: bool | None = None
    timeout: float = 0.0

    def matches(self, kind: Kind, obj: dict[str, object]) -> bool:
        meta = obj["metadata"]
        assert isinstance(meta, dict)
        if not self.label_selector.matches(meta.get("labels")):
            return False
        return self.field_selector is None or self.field_selector.matches(object_fields(kind, obj))


def parse_list_options(kind: Kind, query: Mapping[str, str], watch: bool) -> ListOptions:
    """Parse and validate list/watch query parameters; raises StatusError (400/422) on bad input."""
    opts = ListOptions(watch=watch)
    try:
        opts.label_selector = LabelSelector.parse(query.get("labelSelector", ""))
        if query.get("fieldSelector"):
            # kinds with fields of their own (Pods, Services, Namespaces) have a field label conversion function
            opts.field_selector = FieldSelector.parse(query["fieldSelector"], allowed_field_selectors(kind),
                                                      converted=bool(kind.extra_field_selectors))
    except SelectorError as err:
        raise errors.bad_request(str(err)) from None
    if query.get("limit"):
        try:
            opts.limit = max(0, int(query["limit"]))
        except ValueError:
            raise errors.bad_request(f'strconv.ParseInt: parsing "{query["limit"]}": invalid syntax') from None
    opts.resource_version = query.get("resourceVersion", "")
    opts.rv_match = query.get("resourceVersionMatch", "")
    opts.allow_bookmarks = bool(parse_bool(query.get("allowWatchBookmarks")))
    opts.send_initial_events = parse_bool(query.get("sendInitialEvents"))
    if query.get("timeoutSeconds"):
        try:
            opts.timeout = float(int(query["timeoutSeconds"]))
        except ValueError:
            raise errors.bad_request(f'strconv.ParseInt: parsing "{query["timeoutSeconds"]}": invalid syntax') from None
    if opts.timeout <= 0:
        opts.timeout = MIN_REQUEST_TIMEOUT * (1 + random.random())
    token = query.get("continue", "")
    _validate(opts, bool(token))
    if token:  # storage's ValidateListOptions: the token first
        try:
            opts.continue_rv, opts.continue_start = decode_continue(token)
        except ContinueError as err:
            raise errors.bad_request(f"invalid continue token: {err}") from None
        if opts.resource_version and opts.resource_version != "0":
            raise errors.bad_request("specifying resource version is not allowed when using continue")
    return opts


def _validate(opts: ListOptions, has_continue: bool) -> None:
    """upstream's ValidateListOptions: every problem reported together, in its order."""
    errs = fielderr.ErrorList()
    match, rv = opts.rv_match, opts.resource_version
    if opts.watch:
        if opts.send_initial_events is not None and match != "NotOlderThan":
            errs.append(fielderr.forbidden(
                "resourceVersionMatch", "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
        if match:
            if opts.send_initial_events is None:
                errs.append(fielderr.forbidden("resourceVersionMatch",
                                               "resourceVersionMatch is forbidden for watch unless sendInitialEvents "
                                               "is provided"))
            if match != "NotOlderThan":
                errs.append(fielderr.not_supported("resourceVersionMatch", match, ["NotOlderThan"]))
            if has_continue:
                errs.append(fielderr.forbidden(
                    "resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided"))
    else:
        if match:
            if not rv:
                errs.append(fielderr.forbidden(
                    "resourceVersionMatch", "resourceVersionMatch is forbidden unless resourceVersion is provided"))
            if has_continue:
                errs.append(fielderr.forbidden(
                    "resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided"))
            if match not in ("Exact", "NotOlderThan"):
                errs.append(fielderr.not_supported("resourceVersionMatch", match, ["Exact", "NotOlderThan", ""],
                                                   sort=False))
            if match == "Exact" and rv == "0":
                errs.append(fielderr.forbidden(
                    "resourceVersionMatch", 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'))
        if opts.send_initial_events is not None:
            errs.append(fielderr.forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"))
    if errs:
        raise errors.invalid_options("ListOptions", errs)


@dataclass
class WriteOptions:
    """Options of create, update, patch and delete requests."""

    dry_run: bool = False
    field_manager: str = ""
    field_validation: str = "Warn"
    force: bool = False
    warnings: list[str] = field(default_factory=list)


FIELD_MANAGER_MAX_LENGTH = 128


def parse_write_options(query: Mapping[str, str], what: str = "CreateOptions", apply: bool = False) -> WriteOptions:
    """Options of a write, validated as upstream's Validate<What> does, every problem reported together.

    `what` (CreateOptions, UpdateOptions, PatchOptions, DeleteOptions) names them in the 422; `apply`
    says a PatchOptions is for server-side apply (which needs a fieldManager and alone may `force`)."""
    opts = WriteOptions(field_manager=query.get("fieldManager", ""))
    dry_run = query.getall("dryRun", []) if hasattr(query, "getall") else [query.get("dryRun", "")]
    errs = fielderr.ErrorList()
    if what == "PatchOptions":
        if not apply and "force" in query:
            errs.append(fielderr.forbidden("force", "may not be specified for non-apply patch"))
        if apply and not opts.field_manager:
            errs.append(fielderr.required("fieldManager", "is required for apply patch"))
    if what != "DeleteOptions":
        errs.extend(_field_manager_errors(opts.field_manager))
    if what != "DeleteOptions" and any(value != "All" for value in dry_run):  # a DELETE's: parse_delete_options
        errs.append(fielderr.not_supported("dryRun", fielderr.go_strings(dry_run), ["All"]))
    opts.dry_run = "All" in dry_run
    validation = query.get("fieldValidation", "")
    if validation not in ("", "Ignore", "Warn", "Strict") and what != "DeleteOptions":
        errs.append(fielderr.not_supported("fieldValidation", validation, ["", "Ignore", "Strict", "Warn"]))
    opts.field_validation = validation or "Warn"
    opts.force = bool(parse_bool(query.get("force")))
    if errs:
        raise errors.invalid_options(what, errs)
    return opts


def _field_manager_errors(manager: str) -> fielderr.ErrorList:
    """ValidateFieldManager: at most 128 bytes, printable characters only (each other one named with its byte offset)."""
    errs = fielderr.ErrorList()
    raw = manager.encode("utf-8", "surrogateescape")
    if len(raw) > FIELD_MANAGER_MAX_LENGTH:
        errs.append(fielderr.too_long("fieldManager", manager, FIELD_MANAGER_MAX_LENGTH))
    offset = 0
    for char in manager:
        if not char.isprintable():
            errs.append(fielderr.invalid("fieldManager", manager,
                                         f"invalid character U+{ord(char):04X} (at position {offset})"))
        offset += len(char.encode("utf-8", "surrogateescape"))
    return errs
