"""The catalogue: models, tasks, the database, backups.

Thin wrappers over :class:`registry.store.Store` that return its frozen
records (see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from registry.errors import NotFound, arg
from registry.validation import check_name, check_pattern, check_source, check_switch, check_tags

if TYPE_CHECKING:
    from registry.records import Model, Task, TaskEmbedding
    from registry.store import Store


class Catalog:
    """Register, list, show and remove models and tasks; back the registry up."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # models
    def register_model(
        self,
        name: str,
        source: str,
        *,
        arch: str | None = None,
        trained_on: str | None = None,
        tags: Mapping[str, str] | Iterable[tuple[str, str] | str] | str | None = None,
        description: str | None = None,
        num_params: int | None = None,
        checksum: str | None = None,
        check: bool = True,
    ) -> Model:
        """Add an expert model; ``source`` is ``timm:NAME``, ``hf-hub:REPO`` or ``file:PATH``.

        A relative ``file:`` path is stored absolute (against the working folder, ``~`` expanded), so every
        later command, in any folder and for every user of a shared registry, finds the same file.
        ``tags``: a mapping, one ``"KEY=VALUE"`` string, or a list of ``(key, value)`` pairs or ``"KEY=VALUE"``
        strings (a key given twice is an error). ``check``
        verifies a ``file:`` source at registration (exists, regular file, readable weights header).
        ``trained_on`` must name a registered task (NotFound otherwise): it is the task whose measured
        result the ranking leaves out as the expert's own, and a misspelt one would silently be none.

        A local ``file:`` weights file is read with the sidecar beside it (``PATH.json`` or ``<stem>.json``, as
        the bench writes for each expert): without ``arch``, the sidecar's is recorded (so ``--arch`` filters
        see it); without an ``input_size`` there, a warning says that timm's default input size and
        normalisation for the architecture will be used, which measures an expert trained at another size
        (the bench's: 32 px) as a far worse one.
        """
        source = check_source(source)
        if check_switch("check", check) and source.startswith("file:"):
            arch = _file_sidecar(source, arch)
        if trained_on is not None:
            check_name("task", trained_on)
            try:
                self.store.get_task(trained_on)
            except NotFound:
                raise NotFound(
                    f"task {trained_on!r} is not registered: register it first (`zoo embed-task {trained_on} "
                    f"--data PATH`), or drop {arg('trained_on', 'TASK')} (record a source data set as a tag instead)"
                ) from None
        return self.store.add_model(
            name,
            source,
            arch=arch,
            num_params=num_params,
            checksum=checksum,
            trained_on=trained_on,
            description=description,
            tags=tags,
            check=check,
        )

    def models(
        self,
        pattern: str | None = None,
        *,
        tags: Mapping[str, str] | Iterable[tuple[str, str] | str] | str | None = None,
    ) -> list[Model]:
        """Models ordered by name; ``pattern`` is a glob on the name, ``tags`` must all match.

        ``tags`` as :meth:`register_model` takes them (``"family=resnet"`` is one tag).
        """
        return self.store.list_models(pattern=check_pattern(pattern), tags=check_tags(tags or {}))

    def get_model(self, name: str) -> Model:
        """The model with this name or alias."""
        return self.store.get_model(name)

    def remove_model(self, name: str, *, force: bool = False) -> dict[str, int]:
        """Delete a model (``force`` to take its results along); returns what went."""
        return self.store.remove_model(name, force=check_switch("force", force))

    def alias(self, alias: str, name: str) -> Model:
        """Point ``alias`` at the model ``name`` (moving it if it existed)."""
        return self.store.set_alias(alias, name)

    def set_model_source(self, name: str, uri: str, *, check: bool = True) -> Model:
        """Point model ``name`` at new weights ``uri`` (``file:PATH``, ``bench:REL``, ``timm:``...).

        A local file must exist with a loadable header unless ``check`` is False; when it exists
        and a checksum is stored, its sha256 must match (else InvalidInput: not the registered weights).
        A relative ``file:`` path is stored absolute, as at :meth:`register_model`. When the new source
        determines an architecture (a timm name's, or a local file's sidecar ``arch``), it becomes the
        model's ``arch`` in the same write, and a ``num_params`` counted for another architecture becomes
        unknown; the checksum stays (it names the registered weights a later file is checked against).
        """
        return self.store.set_model_source(name, uri, check=check_switch("check", check))

    def relocate_sources(self, old_folder: str | Path, new_folder: str | Path, *, check: bool = True) -> list[Model]:
        """Move every ``file:`` source under ``old_folder`` to the same relative path under ``new_folder``.

        All or nothing; each new file checked as in :meth:`set_model_source`. Returns the moved models.
        """
        return self.store.relocate_sources(old_folder, new_folder, check=check_switch("check", check))

    # tasks
    def tasks(self, pattern: str | None = None) -> list[Task]:
        """Tasks ordered by name; ``pattern`` is a glob on the name."""
        return self.store.list_tasks(pattern=check_pattern(pattern))

    def get_task(self, name: str) -> Task:
        """The task with this name."""
        return self.store.get_task(name)

    def task_embeddings(self, name: str) -> list[TaskEmbedding]:
        """Every current embedding of the task ``name`` (all probes and methods)."""
        self.store.get_task(name)
        return self.store.list_task_embeddings(task=name)

    def remove_task(self, name: str, *, force: bool = False) -> dict[str, int]:
        """Delete a task (``force`` to take its embeddings and results along)."""
        return self.store.remove_task(name, force=check_switch("force", force))

    # backup
    def export(self, path: str | Path, *, force: bool = False) -> dict[str, int]:
        """Write the whole registry to ``path`` as JSON Lines; returns counts per kind.

        Refuses the registry's own file, and an existing file that is not a previous export unless ``force``.
        """
        return self.store.export_jsonl(path, force=force)

    def import_(self, path: str | Path) -> dict[str, int]:
        """Add a ``zoo export`` file to this registry, all or nothing."""
        return self.store.import_jsonl(path)

    # database
    def db_current(self) -> dict[str, object]:
        """The schema revision of this registry, the code's head, and row counts."""
        import registry

        return {
            "url": self.store.display_url,
            "revision": registry.current_revision(self.store.url),
            "head": registry.head_revision(),
            "counts": self.store.counts(),
        }

    @staticmethod
    def db_upgrade(url: str | None = None) -> dict[str, object]:
        """Migrate the database at ``url`` to the newest schema (no store needed).

        The default registry (``url`` None) is first seeded from the shipped zoo if it does not exist (zoo.api.seed).
        """
        import registry
        from registry.engine import display_url, parse_url

        if url is None:
            from zoo.api.seed import seed_default_registry

            seed_default_registry()

        before = registry.current_revision(url)
        after = registry.upgrade(url)
        return {"url": display_url(parse_url(url)), "from": before, "to": after, "head": registry.head_revision()}


def _file_sidecar(source: str, arch: str | None) -> str | None:
    """``arch``, else the architecture the sidecar of a ``file:`` source names; warns when no sidecar gives its
    input size (see :meth:`Catalog.register_model`)."""
    import warnings

    from zoo.checkpoints import local_weights, read_sidecar

    path = local_weights(source)
    if path is None or not path.is_file():
        return arch  # the store's own check says what is wrong with the path
    info = read_sidecar(path)
    if "input_size" not in info:
        warnings.warn(
            f"{path} has no sidecar ({path.name}.json or {path.stem}.json) giving its input size: zoo will feed it "
            f"timm's default input size and normalisation for {arch or info.get('arch') or 'its architecture'}; "
            "if it was trained otherwise (the bench's experts: 32 px), put its sidecar beside it before measuring it",
            stacklevel=3,
        )
    return arch or info.get("arch")
