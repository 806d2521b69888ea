"""``zoo train-model2vec``, ``zoo recommend`` and ``zoo index``: choosing an expert for new data.

Thin commands over :class:`zoo.api.Zoo` (see :mod:`zoo.api.recommend`, :mod:`zoo.api.training`);
nothing heavy is imported at module level.
"""

from __future__ import annotations

import click

from zoo.api.choices import model2vec_default, model2vec_objectives
from zoo.api.verify import SCREEN_DECIMALS, SCREEN_FRACTION
from zoo.cli.common import echo_json, handle_errors, open_zoo
from zoo.cli.jobs import gpus_option, ray_option
from zoo.cli.options import LazyChoice, LibraryDefault, quiet_option
from zoo.embedding import DEFAULT_METHOD, METHODS

# the trainer's settings: None on the command line means Model2VecConfig's default
_TRAINER = {"cls": LibraryDefault, "default_of": model2vec_default}

PROBE_HELP = (
    "Probe: a registered probe name or a spec (bundled, timm:NAME, file:PATH). "
    "Default: the probe of the only Model2Vec run."
)


@click.command("train-model2vec")
@click.option("--probe", metavar="SPEC", help=PROBE_HELP)
@click.option(
    "--method", type=click.Choice(METHODS), default=DEFAULT_METHOD, show_default=True, help="Task2Vec method."
)
@click.option(
    "--objective",
    type=LazyChoice(model2vec_objectives),
    **_TRAINER,
    help="ce: the paper's k-way cross-entropy; regression: distance predicts the error; both: their sum.",
)
@click.option("--epochs", **_TRAINER, type=int, help="Upper bound; stops early on validation.")
@click.option("--seed", **_TRAINER, type=int, help="Seed of the task split and the optimiser.")
@click.option("--val-fraction", **_TRAINER, type=float, help="Share of tasks held out.")
@click.option(
    "--val-task",
    "val_tasks",
    multiple=True,
    metavar="TASK",
    help="Hold out this task instead of a random share; repeat for more.",
)
@click.option(
    "--exclude-task",
    "exclude_tasks",
    multiple=True,
    metavar="TASK",
    help="Leave this task out entirely (a held-out query task); repeat for more.",
)
@click.option(
    "--exclude-from",
    "exclude_file",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="Leave out the tasks listed in FILE: a bench sets.json (its 'heldout' list) or one name per line.",
)
@click.option(
    "--keep-own-task",
    "own_task_pairs",
    is_flag=True,
    help="Also learn from each model's result on the task it was trained on (left out by default).",
)
@click.option(
    "--shrinkage/--no-shrinkage",
    "shrinkage",
    default=True,
    show_default=True,
    help="Fit how far to trust the task term off the evidence, on one extra run per task collection.",
)
@quiet_option
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@click.pass_context
@handle_errors
def train_model2vec(
    ctx: click.Context,
    probe: str | None,
    method: str,
    objective: str | None,
    epochs: int | None,
    seed: int | None,
    val_fraction: float | None,
    val_tasks: tuple[str, ...],
    exclude_tasks: tuple[str, ...],
    exclude_file: str | None,
    own_task_pairs: bool,
    shrinkage: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Learn model embeddings from the recorded transfer results and store the run.

    Holds out a share of tasks for validation, stops early, stores the
    hyper-parameters, the validation metrics and each model's (bias, vector).
    Then (unless --no-shrinkage) trains one run per task collection with that
    collection left out, and fits on them how far recommend trusts the task
    term as a query moves away from the training tasks, with an 80% interval.

    \b
    Example:
        zoo train-model2vec --epochs 400 --val-fraction 0.2
        zoo train-model2vec --objective ce --seed 1 --json
        zoo train-model2vec --val-task script-adlam --val-task emoji-face-smiling
        zoo train-model2vec --exclude-from .zoo-work/full/sets.json
    """
    excluded = list(exclude_tasks) + (_task_list(exclude_file) if exclude_file else [])
    with open_zoo(ctx) as zoo:
        summary = zoo.train_model2vec(
            probe=probe,
            method=method,
            objective=objective,
            epochs=epochs,
            seed=seed,
            val_fraction=val_fraction,
            val_tasks=list(val_tasks) or None,
            exclude_tasks=excluded or None,
            own_task_pairs=own_task_pairs,
            progress=not quiet,
            shrinkage=shrinkage,
        )
        zoo.rebuild_index(probe=summary["probe"], method=method, progress=not quiet)
    if as_json:
        echo_json(summary)
        return
    _echo_run(summary)


def _echo_run(summary: dict) -> None:
    """The human summary of a stored Model2Vec run (``Zoo.train_model2vec``'s return)."""
    val = summary["metrics"].get("validation") or {}
    click.echo(
        f"Model2Vec run {summary['run_id']} ({summary['probe']}/{summary['method']}): "
        f"{summary['trained']}/{summary['models']} models trained on "
        f"{len(summary['metrics'].get('train_tasks') or [])} tasks with results "
        f"({summary['tasks']} embedded), {summary['metrics']['epochs_run']} epochs"
    )
    untrained = summary.get("untrained") or []
    if untrained:
        shown = ", ".join(untrained[:5]) + (f" and {len(untrained) - 5} more" if len(untrained) > 5 else "")
        click.echo(
            f"  not trained (no measured result to learn from; ranked as an average expert): {shown}; "
            "measure them with `zoo evaluate --all`, then train again"
        )
    excluded = summary["hyperparams"].get("excluded_tasks") or []
    if excluded:
        click.echo(f"  left out entirely: {len(excluded)} tasks (--exclude-task/--exclude-from)")
    if val:
        click.echo(
            f"  validation tasks: {val.get('tasks')}, top-1 {val.get('top1', float('nan')):.2f} "
            f"(untrained {val.get('untrained_top1', float('nan')):.2f}), relative error "
            f"{_fmt(val.get('relative_error'))}% (untrained {_fmt(val.get('untrained_relative_error'))}%), "
            f"expected-error MAE {_fmt(val.get('error_mae_points'))} points"
        )


def _task_list(path: str) -> list[str]:
    """Task names from a bench sets.json (its "heldout" list) or a file of one name per line."""
    import json
    from pathlib import Path

    text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except ValueError:
        return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if isinstance(data, dict) and isinstance(data.get("heldout"), list):
        return [str(t) for t in data["heldout"]]
    if isinstance(data, list):
        return [str(t) for t in data]
    raise click.BadParameter(
        f"{path} is JSON without a 'heldout' list; give a sets.json or one name per line", param_hint="--exclude-from"
    )


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.1f}"


class VerifyCount(click.ParamType):
    """``--verify``: a whole number K >= 0, or ``auto``."""

    name = "K|auto"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value == "auto":
            return value
        try:
            count = int(value)
        except ValueError:
            self.fail(f"{value!r} is neither a whole number nor 'auto'", param, ctx)
        if count < 0:
            self.fail(f"{count} is below 0", param, ctx)
        return count


@click.command("recommend")
@click.option(
    "--task",
    "data_or_name",  # Zoo.recommend's name for it, so an error naming the parameter spells --task
    required=True,
    metavar="DIR|NAME",
    help="A folder of labelled images (class subfolders, or train/ and test/ splits) or a registered task; a "
    "folder that exists is used even when a task has its name (a note on stderr says so).",
)
@click.option("-k", "k", type=int, default=5, show_default=True, help="How many experts.")
@click.option("--probe", metavar="SPEC", help=PROBE_HELP)
@click.option(
    "--method", type=click.Choice(METHODS), default=DEFAULT_METHOD, show_default=True, help="Task2Vec method."
)
@click.option("--save", metavar="NAME", help="Also register the folder as task NAME with its embedding.")
@click.option(
    "--verify",
    type=VerifyCount(),
    default=0,
    metavar="K|auto",
    help="Re-rank a shortlist of K by LogME on their features (for K >= 2 it always holds the generic pick; "
    "only experts of an architecture whose best expected error is within the margin of the generic pick's); "
    "auto: K=5 when the ranking keeps under half of Model2Vec's task term (the folder is far from the evidence, "
    "or the term did not pay off on left-out collections) or the first pick is not the generic one.",
)
@click.option(
    "--screen",
    type=float,  # the range (0 to 1) is checked by the API, whose error is one line
    default=SCREEN_FRACTION,
    show_default=True,
    metavar="F",
    help="With --verify: every eligible expert's LogME gain on this share of the images proposes half the "
    "shortlist (M*F + K*(1-F) forward passes); 0: the K best of the ranking alone (K passes).",
)
@click.option("--filter", "pattern", metavar="GLOB", help="Only models whose name matches GLOB.")
@click.option("--tag", "tags", multiple=True, metavar="K=V", help="Only models with this tag; repeat for more.")
@click.option("--max-params", "max_params", type=int, metavar="N", help="Only models with at most N parameters.")
@click.option("--arch", metavar="NAME", help="Only models of this architecture (a glob).")
@click.option("--plot", "plot_path", metavar="FILE", help="Save a chart of the expected errors (PNG/SVG).")
@ray_option
@gpus_option
@quiet_option
@click.option("--json", "as_json", is_flag=True, help="Print the recommendations as JSON.")
@click.pass_context
@handle_errors
def recommend(
    ctx: click.Context,
    data_or_name: str,
    k: int,
    probe: str | None,
    method: str,
    save: str | None,
    verify: int | str,
    screen: float,
    pattern: str | None,
    tags: tuple[str, ...],
    max_params: int | None,
    arch: str | None,
    plot_path: str | None,
    ray_address: str | None,
    gpus_per_task: float,
    quiet: bool,
    as_json: bool,
) -> None:
    """Recommend the experts most likely to transfer well to a task.

    A folder is embedded once with the probe (stored only with --save). Every
    expert gets an expected error with an interval: Model2Vec's prediction,
    shrunk toward the expert's overall quality (taken at the folder's
    difficulty for the probe) as the folder moves away from the tasks
    Model2Vec learned from; the generic pick (lowest mean error) stays first
    unless another expert is expected to beat it by more than half the
    interval. Prints how far the folder is from that evidence
    and how hard it is, then rank, model, expected error, distance and the nearest known
    tasks with the model's measured errors on them. Constraints (--filter,
    --tag, --max-params, --arch) narrow the candidates before ranking.
    With --ray, the --verify scorings run as Ray tasks (one per expert; the
    weights and the folder must be readable at the same path on every node).

    \b
    Example:
        zoo recommend --task ./my_images -k 5
        zoo recommend --task emoji-face-smiling --json
        zoo recommend --task ./my_images --verify auto --max-params 5000000 --plot picks.png
        zoo recommend --task ./my_images --verify 3 --screen 0
        zoo recommend --task /shared/images --verify 10 --ray auto --gpus-per-task 1
    """
    from zoo.cli.models import parse_tags

    if ray_address and verify:
        from zoo.api.jobs_ray import import_ray

        import_ray()  # without Ray: the one-line install error, before any work
    if plot_path:  # a chart that cannot be written fails now, not after the probe pass
        from zoo.api.visual import writable_figure

        writable_figure(plot_path)
    with open_zoo(ctx) as zoo:
        _note_folder_over_task(zoo, data_or_name)
        resaved = bool(save) and _is_registered(zoo, save)
        recs = zoo.recommend(
            data_or_name,
            k=k,
            probe=probe,
            method=method,
            save=save,
            verify=verify,
            screen=screen,
            progress=not quiet,
            pattern=pattern,
            tags=parse_tags(tags) or None,
            max_params=max_params,
            arch=arch,
            ray_address=ray_address or None,
            gpus_per_task=gpus_per_task,
        )
        chart = zoo.plot_recommendations(recs, plot_path, task=data_or_name) if plot_path else None
    if as_json:
        echo_json(_recommend_json(data_or_name, recs, chart))
        return
    echo_recommendations(recs, verify=any(r.logme is not None for r in recs))
    screened = {round(r.screen, SCREEN_DECIMALS) for r in recs if r.screen is not None}
    if len(screened) > 1:
        click.echo(
            "The LogME shortlist took the screen's and the ranking's best in turn (every eligible expert on a share "
            "of your images, --screen F; --screen 0: the ranking's top K only)."
        )
    elif screened:
        click.echo(
            "The screen scored every eligible expert alike (its share of your images holds one per class, where "
            "relabelling only renames the classes), so the LogME shortlist is the ranking's top K."
        )
    if recs and recs[0].screen_skipped:
        click.echo(
            "The screen was skipped: its share of your images (--screen F) holds one image per class, where "
            "relabelling only renames the classes and every expert scores alike; the LogME shortlist is the "
            "ranking's top K."
        )
    verified, asked = (recs[0].shortlisted, recs[0].verify_asked) if recs else (None, None)
    if asked and verified is not None and verified < asked:
        click.echo(
            f"Verified {verified} experts, not the {asked} asked: only {verified} "
            f"{'is a candidate' if verified == 1 else 'are candidates'} for verification."
        )
    left_out = recs[0].left_out if recs else ()
    if left_out:
        click.echo(
            f"Not eligible for verification: the {', '.join(left_out)} experts (each such architecture's best "
            "expected error is more than the margin above the generic pick's; LogME cannot see how an "
            "architecture fine-tunes)."
        )
    if chart:
        click.echo(f"Chart saved to {chart}")
    if save:
        done = "Embedded the folder again as task" if resaved else "Registered the folder as task"
        click.echo(f"{done} {save} with its embedding: `zoo recommend --task {save}` reuses it.")


def _is_registered(zoo, name: str) -> bool:
    """Whether task ``name`` is registered (a name that is not valid is not)."""
    from registry.errors import ZooError

    try:
        zoo.get_task(name)
    except ZooError:
        return False
    return True


def _note_folder_over_task(zoo, target: str) -> None:
    """A note on stderr when ``target`` is both a path here and a registered task: the path is what
    ``Zoo.recommend`` uses (a name is looked up only when no such file or folder exists)."""
    from pathlib import Path

    from registry.errors import ZooError

    if not Path(target).exists():
        return
    try:
        zoo.get_task(target)
    except ZooError:  # not a task name (or not a valid one): nothing to confuse the folder with
        return
    click.echo(
        f"Note: {target!r} is both a folder here and a registered task; using the folder {Path(target).resolve()} "
        "(a registered name is used only where no such folder exists: run from another directory for the task)",
        err=True,
    )


def _recommend_json(target: str, recs: list, chart: object | None) -> dict:
    """What ``zoo recommend --json`` prints: the query, its novelty, the ranked experts, the chart's path."""
    return {
        "task": target,
        "novelty": recs[0].novelty if recs else None,
        "extrapolates": bool(recs and recs[0].extrapolates),
        "recommendations": recs,
        "plot": str(chart) if chart else None,
    }


#: an evidence task closer than this share of the seen tasks' median nearest-neighbour distance counts as the
#: query's own data (the demo folder lands at 0.08 of it from its registered copy; the closest two distinct tasks of the
#: shipped zoo, at 0.61)
SAME_DATA = 0.25

#: below this many tasks learned from, recommend says its figures are rough (the difficulty offset needs as many,
#: zoo.shrinkage.MIN_DIFFICULTY_TASKS)
FEW_TASKS = 10


def _same_data(first):
    """The first evidence task when it is nearly the query itself (:data:`SAME_DATA`), else None."""
    n = first.novelty
    if not first.evidence or n is None:
        return None
    nearest = first.evidence[0]
    if nearest.distance == 0.0:  # the very data (an exact copy: its nearest seen task may be at 0 too)
        return nearest
    if not n.ratio or not n.distance:
        return None
    typical = n.distance / n.ratio  # the median of the seen tasks' nearest-neighbour distances
    return nearest if nearest.distance < SAME_DATA * typical else None


def ordinal(n: int) -> str:
    """``1`` -> ``1st``, ``2`` -> ``2nd``, ``12`` -> ``12th``, ``62`` -> ``62nd``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def echo_novelty(recs) -> None:
    """One line on how far the query is from the evidence; a warning on stderr when the answer extrapolates."""
    if not recs or recs[0].novelty is None:
        return
    n, first = recs[0].novelty, recs[0]
    click.echo(
        f"Nearest task the ranking learned from: {n.nearest} (d_sym {n.distance:.3f}, "
        f"{ordinal(round(n.percentile))} percentile of the zoo's own nearest-neighbour distances); "
        f"Model2Vec's task term kept at {100 * first.trust:.0f}%."
    )
    if first.learned_from is not None and first.learned_from < FEW_TASKS:
        click.echo(
            f"Note: the ranking learned from only {first.learned_from} task(s) with measured results, so its "
            "expected errors and intervals are rough; measure your experts on more tasks (`zoo evaluate --all`) "
            "and train again.",
            err=True,
        )
    same = _same_data(first)
    if same is not None:
        why = (
            f"d_sym {same.distance:.3f}, under a quarter of the {n.distance / n.ratio:.3f} between two of the "
            "zoo's tasks typically"
            if n.ratio and n.distance
            else f"d_sym {same.distance:.3f}: the same images"
        )
        click.echo(
            f"Note: this data set is nearly the registered task {same.task} ({why}): the evidence column starts "
            "with its measured errors.",
            err=True,
        )
    # the offset moves the prior's logit, and the prior makes up (1 - trust) of each expected error's logit
    moved = (1.0 - first.trust) * first.difficulty_offset
    if first.difficulty is not None and first.typical_difficulty is not None and abs(moved) > 0.2:
        share, typical = _share(first.difficulty), _share(first.typical_difficulty)
        if share != typical:
            click.echo(
                f"The probe's own head misses {share} of this task's training images (a typical task the "
                f"ranking learned from: {typical}); every expected error is {'raised' if moved > 0 else 'lowered'} "
                "to match, the order is unchanged."
            )
    best = min(recs, key=lambda r: r.expected_error)
    if first.logme is None and first.margin is not None and best.expected_error < first.expected_error:
        click.echo(
            f"Model2Vec expects {best.model} to do better ({100 * best.expected_error:.1f}% against "
            f"{100 * first.expected_error:.1f}%), by less than its uncertainty ({_points(first.margin)}): "
            f"the generic pick stays first; --verify 3 checks both on your images{_weights_first(recs)}."
        )
    if first.extrapolates and first.logme is None:
        check = f"check the shortlist with --verify 5 (or --verify auto){_weights_first(recs)}"
        if n.percentile > 50:  # farther from its nearest training task than most training tasks from their own
            click.echo(
                "Warning: this task is farther from the tasks the ranking learned from than they typically are "
                f"from each other, so the ranking leans on each expert's overall quality; {check}.",
                err=True,
            )
        else:
            click.echo(
                f"Note: the ranking leans on each expert's overall quality (Model2Vec's task term kept at "
                f"{100 * first.trust:.0f}%) because, on collections left out of its training, the task term did "
                f"not beat that overall quality, even this near the tasks it learned from; {check}.",
                err=True,
            )


#: zoo.shrinkage clips a probe head's training error to [0.005, 0.995] before its logit (its ``_CLIP``), so a
#: difficulty at a bound stands for any share beyond it
_DIFFICULTY_CLIP = 0.005


def _share(error: float) -> str:
    """A probe head's training error as a share of the images: never the clip's bound as if it were measured,
    and a share under 10% to a tenth of a point (a 0.5% and a 0.7% are not both "1%")."""
    if error <= _DIFFICULTY_CLIP * (1 + 1e-6):
        return f"{100 * _DIFFICULTY_CLIP:.1f}% or less"
    if error >= 1 - _DIFFICULTY_CLIP * (1 + 1e-6):
        return f"{100 * (1 - _DIFFICULTY_CLIP):.1f}% or more"
    return f"{100 * error:.1f}%" if error < 0.1 else f"{100 * error:.0f}%"


def _weights_first(recs) -> str:
    """Nothing when a shown expert's weights are on this machine; else what a verification needs first (it
    would fail at once without them)."""
    if any(r.weights_here for r in recs):
        return ""
    bench = any(r.source.startswith("bench:") for r in recs)
    fetch = "`zoo bench rebuild-experts`" if bench else "`zoo models set-source NAME file:PATH`"
    return f" once the experts' weights are on this machine ({fetch})"


def echo_recommendations(recs, *, verify: bool = False) -> None:
    """The recommendation table: rank, model, expected error [interval], distance, evidence."""
    echo_novelty(recs)
    width = max([len("model"), *(len(r.model) for r in recs)])  # whole names: the user copies them
    header = f"{'rank':>4}  {'model':<{width}} {'exp. error':>10} {'80% interval':>13} {'distance':>9}"
    if verify:
        header += f" {'LogME':>8} {'LogME rank':>10}"
    click.echo(header + "  evidence (task: measured error)")
    for r in recs:
        interval = "" if r.low is None else _interval_text(r.low, r.high)
        line = f"{r.rank:>4}  {r.model:<{width}} {100 * r.expected_error:>9.1f}% {interval:>13} {r.distance:>9.4f}"
        if verify:
            line += f" {'' if r.logme is None else f'{r.logme:.3f}':>8} {r.verified_rank or '':>10}"
        evidence = ", ".join(f"{e.task}: {'?' if e.error is None else f'{100 * e.error:.1f}%'}" for e in r.evidence)
        click.echo(
            line
            + "  "
            + evidence
            + ("" if r.trained else "  [no result learned from: zoo evaluate, then train-model2vec]")
        )


@click.group("index")
def index() -> None:
    """The FAISS indexes over model and task embeddings (rebuilt automatically when stale).

    \b
    Example:
        zoo index rebuild
        zoo index rebuild --factory HNSW32,Flat --json
    """


@index.command("rebuild")
@click.option("--probe", metavar="SPEC", help=PROBE_HELP)
@click.option(
    "--method", type=click.Choice(METHODS), default=DEFAULT_METHOD, show_default=True, help="Task2Vec method."
)
@click.option(
    "--factory",
    metavar="STRING",
    help="faiss index_factory string (default: Flat, HNSW32,Flat past 20,000); IVFn,... needs at least n vectors "
    "in each index.",
)
@quiet_option
@click.option("--json", "as_json", is_flag=True, help="Print what was built as JSON.")
@click.pass_context
@handle_errors
def rebuild(
    ctx: click.Context, probe: str | None, method: str, factory: str | None, quiet: bool, as_json: bool
) -> None:
    """Rebuild the model and task indexes of a probe/method from the registry.

    \b
    Example:
        zoo index rebuild --probe resnet10t@aa5b003ed9b5
    """
    with open_zoo(ctx) as zoo:
        built = zoo.rebuild_index(probe=probe, method=method, factory=factory, progress=not quiet)
    if as_json:
        echo_json(built)
        return
    for item in built:
        click.echo(f"{item['built_from']['kind']}: {item['count']} vectors, {item['factory']} -> {item['path']}")


def _points(value: float) -> str:
    """``value`` (an error difference) in points: tenths under 5 points, as :func:`_interval_text` rounds."""
    return (f"{100 * value:.1f}" if value < 0.05 else f"{100 * value:.0f}") + " points"


def _interval_text(low: float, high: float) -> str:
    """The interval in percent: whole points, or tenths when it is under 5 points wide (whole points made a
    0.0-1.4% band read "0-1%", which seemed to leave out the 0.7% expected beside it)."""
    digits = 1 if high - low < 0.05 else 0
    return f"{100 * low:.{digits}f}-{100 * high:.{digits}f}%"
