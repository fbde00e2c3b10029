"""The ``numpyuq`` command: ``numpyuq demo`` (the SNGP seed's two-moons comparison),
``numpyuq evidential`` (the EDL seed on MNIST-format images, with the paper's evaluations) and
``numpyuq compare`` (seven uncertainty methods side by side on one data set; ``--ablation``: SNGP
taken apart, spectral normalisation off and on under four output heads).

Exit status: 0 on success, 2 for a usage error (a bad argument, or an input it names that cannot
be used: a missing folder, a truncated model file, an absent data set), 1 for a run that failed
once started, 130 when interrupted. Errors are one line on stderr; ``--debug`` shows the traceback
instead. Nothing is written, and ``--out`` is not created, when a run fails before its work starts.
"""
import argparse
import os
import sys
import time


def prepare_evidential(config, evaluate_path=None, mnist_path=None):
    """Everything the EDL run needs before its work starts: (config, data, OOD images, OOD name,
    the loaded model or None). Raises on a bad input; writes nothing."""
    from .experiments import evidential as edl

    model = None
    if evaluate_path is not None:
        model, config = edl.load_run(evaluate_path)
    data, ood_images, ood_name = edl.load_experiment_data(config, mnist_path=mnist_path)
    return config, data, ood_images, ood_name, model


def evidential(config, out_dir, baseline=False, evaluate_path=None, mnist_path=None, progress=True, prepared=None):
    """Train (or load) the EDL LeNet of ``config``, print its statistics and evaluations, save it,
    and write the paper's figures; ``baseline`` also trains the softmax LeNet the same way."""
    from .experiments import evidential as edl

    config, data, ood_images, ood_name, model = prepared or prepare_evidential(config, evaluate_path, mnist_path)
    os.makedirs(out_dir, exist_ok=True)
    if evaluate_path is not None:
        print(f"loaded {evaluate_path} ({config})")
    if ood_images is None:
        print(f"no out-of-distribution set: {ood_name}")
    models = {}
    if evaluate_path is None:
        print(f"training the EDL LeNet on {config.dataset} ({len(data.y_train)} images, {config.epochs} epochs, "
              f"{config.loss} loss, {config.evidence} evidence, {config.schedule} schedule)")
        model, _, seconds = edl.train(config, data, progress=progress, verbose=True)
        print(f"trained in {seconds:.1f} s; saved {edl.save_run(model, config, out_dir)}")
    models["EDL"] = model
    if baseline:
        softmax_model, _, seconds = edl.train(config, data, evidential=False, progress=progress)
        print(f"softmax LeNet trained the same way in {seconds:.1f} s")
        models["softmax"] = softmax_model
    results = {name: edl.evaluate(m, data, ood_images) for name, m in models.items()}
    for name, result in results.items():
        print(edl.format_report(name, result))
    for path in edl.write_figures(results, out_dir, config.dataset, ood_name):
        print("wrote", path)
    return results


def compare(config, out_dir, progress=True):
    """Train and score the methods of ``config`` (a CompareConfig), or the SNGP ablation (an
    AblationConfig, ``experiments/ablation.py``); print the table, write it, its CSV and figures."""
    from .experiments import ablation, compare as comparison
    if isinstance(config, ablation.AblationConfig):
        what, run_all, formatted, write = "ablation", ablation.run_ablation, ablation.format_markdown, ablation.write_results
    else:
        what, run_all, formatted, write = ("comparison", comparison.run_compare, comparison.format_text,
                                           comparison.write_results)
    start = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    result = run_all(config, progress=progress)
    print(formatted(result))
    for path in write(result, out_dir):
        print("wrote", path)
    print(f"whole {what}: {time.perf_counter() - start:.1f} s")
    return result


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line that says where the options are listed."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def integer_at_least(low, name):
    """An argparse type for integers >= ``low``; its name is what argparse's message calls it
    ("invalid positive integer value: 'two'")."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {name}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {name} (>= {low}), got {value}")
        return value
    parse.__name__ = name
    return parse


_positive = integer_at_least(1, "a positive integer")
_seed = integer_at_least(0, "a non-negative integer")


def build_parser():
    from . import __version__
    from .experiments.evidential import DATASETS as EDL_DATASETS, DEFAULT_EPOCHS
    from .losses.annealed import SCHEDULES
    from .losses.evidential import LOSSES
    from .nn.evidence import EVIDENCE_FUNCTIONS

    parser = Parser(prog="numpyuq", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"numpyuq {__version__}")
    common = Parser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the traceback of an error (default: one line)")
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="two-moons uncertainty comparison (the SNGP seed, with EDL added)",
                            parents=[common])
    p_demo.add_argument("--out", default="demo_output", help="folder for the figures (default: demo_output)")
    p_demo.add_argument("--epochs", type=_positive, default=100, help="training epochs (default: 100)")
    p_demo.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    p_demo.add_argument("--num-samples", type=_positive, default=10, help="MC dropout samples (default: 10)")
    p_demo.add_argument("--ensemble-size", type=_positive, default=10, help="ensemble members (default: 10)")
    p_demo.add_argument("--jobs", type=_positive, default=2, help="tasks at once, in local processes (default: 2)")
    p_demo.add_argument("--no-progress", action="store_true", help="no progress bars")

    engine = Parser(add_help=False)      # where the tasks run: compare and reproduce
    engine.add_argument("--jobs", type=_positive, default=2,
                        help="tasks at once: local processes (loky), or the workers of --cluster local (default: 2)")
    engine.add_argument("--backend", choices=("loky", "dask", "ray"), default=None,
                        help="where the tasks (independent trainings) run: loky (local processes), "
                             "dask (with --scheduler or --cluster) or ray (default: loky, or dask when --scheduler "
                             "or --cluster is given)")
    engine.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="a running Dask scheduler, e.g. tcp://host:8786 (default: none)")
    engine.add_argument("--cluster", choices=("local",), default=None,
                        help="local: start a Dask LocalCluster of --jobs one-thread workers for the run (default: none)")
    engine.add_argument("--ray-address", metavar="ADDRESS", default=None,
                        help="a running Ray cluster for --backend ray (default: start Ray on this machine)")

    from .experiments.compare import DATASETS, METHODS
    p_cmp = sub.add_parser("compare", help="seven uncertainty methods on one data set, one table",
                           parents=[common, engine])
    p_cmp.add_argument("--dataset", "--task", dest="dataset", choices=DATASETS, default="moons",
                       help="moons (default), digits28 (train on 0-4; OOD: digits 5-9 and Fashion-MNIST) or "
                            "fashion-mnist (OOD: digits28); --task is its former name")
    p_cmp.add_argument("--methods", default=",".join(METHODS),
                       help=f"comma-separated subset of {','.join(METHODS)} (default: all)")
    p_cmp.add_argument("--seeds", type=_positive, default=None,
                       help="repeat everything with seeds 0 .. N-1 and report mean and spread (default: 1; "
                            "--ablation: 5)")
    p_cmp.add_argument("--ablation", action="store_true",
                       help="instead of the methods: spectral normalisation off/on x softmax, GP, DDU and "
                            "last-layer Laplace heads, each scored by its own uncertainty (SNGP taken apart)")
    p_cmp.add_argument("--epochs", type=_positive, default=None,
                       help="training epochs (default: the data set's: moons 100, digits28 40, fashion-mnist 10)")
    p_cmp.add_argument("--fast", action="store_true", help="few epochs and small sets, for a smoke test (default: off)")
    p_cmp.add_argument("--out", default="compare_output", help="folder for the table and figures (default: compare_output)")
    p_cmp.add_argument("--no-progress", action="store_true", help="no progress bars (default: shown on a terminal)")

    from .experiments.reproduce import TARGET
    p_rep = sub.add_parser("reproduce", help="reproduce a published table (uncertainty-baselines' LeNet5 on "
                           "Fashion-MNIST), with numpyuq's methods added", parents=[common, engine])
    p_rep.add_argument("target", choices=(TARGET,), help=f"the table to reproduce ({TARGET}; default: none)")
    p_rep.add_argument("--fast", action="store_true", help="a smoke run: a subset, one epoch, two members (default: off)")
    p_rep.add_argument("--out", default="reproduce_output",
                       help="folder for the trained models (resumed from), the settings and the table "
                            "(default: reproduce_output)")
    p_rep.add_argument("--no-progress", action="store_true", help="no progress bars (default: shown on a terminal)")

    p_edl = sub.add_parser("evidential", help="evidential deep learning with LeNet (the EDL seed)", parents=[common])
    p_edl.add_argument("--dataset", choices=EDL_DATASETS, default="digits28",
                       help="digits28 (embedded, default), fashion-mnist (Debian's dataset-fashion-mnist) or mnist")
    p_edl.add_argument("--mnist-path", default=None, help="folder with the four MNIST IDX files "
                       "(default: the cache folder, downloading when a network is there)")
    p_edl.add_argument("--loss", choices=tuple(LOSSES), default="mse",
                       help="mse: squared-error Bayes risk (default, the seed's); digamma: cross-entropy Bayes "
                            "risk; log: type-II maximum likelihood")
    p_edl.add_argument("--evidence", choices=tuple(EVIDENCE_FUNCTIONS), default="softplus",
                       help="evidence function (default: softplus)")
    p_edl.add_argument("--schedule", choices=SCHEDULES, default="labml",
                       help="KL annealing: labml (default, the seed's), paper (min(1, epoch/10)) or none")
    p_edl.add_argument("--epochs", type=_positive, default=None,
                       help="epochs (default: " + ", ".join(f"{k} {v}" for k, v in DEFAULT_EPOCHS.items()) + ")")
    p_edl.add_argument("--batch-size", type=_positive, default=64, help="batch size (default: 64)")
    p_edl.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    p_edl.add_argument("--threads", type=_positive, default=2,
                       help="threads each training batch is split over; the steps are the same (default: 2)")
    p_edl.add_argument("--baseline", action="store_true", help="also train a softmax LeNet the same way")
    p_edl.add_argument("--evaluate", metavar="MODEL.npz", default=None,
                       help="evaluate a saved model (with its .json beside it) instead of training (default: train)")
    p_edl.add_argument("--out", default="evidential_output", help="folder for the model and figures (default: evidential_output)")
    p_edl.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.subcommands = {"demo": p_demo, "compare": p_cmp, "reproduce": p_rep, "evidential": p_edl}   # for errors in their usage
    return parser


def check_out_folder(path):
    """Raise ValueError unless ``path`` is, or can be created as, a writable folder; creates nothing
    (the folder is made when the work starts)."""
    path = os.path.abspath(path)
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise ValueError(f"--out {path!r} is a file, not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"--out {path!r} is not a writable folder")
        return
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not (os.path.isdir(parent) and os.access(parent, os.W_OK | os.X_OK)) or parent.startswith("/proc"):
        raise ValueError(f"--out {path!r} cannot be created: {parent!r} is not a writable folder")


def one_line(err):
    """An exception as one line: its first line, without the exception's class name."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text


def prepare(args):
    """Check every argument and input of the command, before any work: returns what ``run``
    needs. Raises ValueError / TypeError / FileNotFoundError (a usage error)."""
    if args.command in ("demo", "compare"):
        from .experiments.compare import CompareConfig, cached_comparison_data
        from .experiments.data import load_dataset
        if args.command == "demo":        # the SNGP seed's comparison, with EDL as a fifth method
            config = CompareConfig(dataset="moons", first_seed=args.seed, epochs=args.epochs,
                                   mc_samples=args.num_samples, ensemble_size=args.ensemble_size)
        elif args.ablation:
            from .experiments.ablation import DEFAULT_SEEDS, AblationConfig
            config = AblationConfig(dataset=args.dataset, seeds=args.seeds or DEFAULT_SEEDS, epochs=args.epochs,
                                    fast=args.fast)     # jobs None: the engine's (--jobs, --scheduler, ...)
            load_dataset(config.dataset, 0, config.fast)              # missing data fails here, before training
        else:
            config = CompareConfig(dataset=args.dataset, methods=tuple(m.strip() for m in args.methods.split(",")),
                                   seeds=args.seeds or 1, epochs=args.epochs, fast=args.fast)
            # missing data fails here, before training; the figures reuse this load (cached per process)
            cached_comparison_data(config.dataset, config.first_seed, config.fast)
        check_out_folder(args.out)
        return config, make_engine(args)
    if args.command == "reproduce":
        from .experiments.reproduce import ReproduceConfig, load_data
        config = ReproduceConfig(fast=args.fast)
        load_data(config.train_size, config.calibration_size, config.test_size)   # missing data: exit 2
        check_out_folder(args.out)
        return config, make_engine(args)
    from .experiments.evidential import EvidentialConfig
    if args.evaluate is not None and not os.path.isfile(args.evaluate):
        raise FileNotFoundError(f"--evaluate {args.evaluate!r} is not a file")
    if args.mnist_path is not None and not os.path.isdir(args.mnist_path):
        raise FileNotFoundError(f"--mnist-path {args.mnist_path!r} is not a folder")
    config = EvidentialConfig(dataset=args.dataset, loss=args.loss, evidence=args.evidence, schedule=args.schedule,
                              epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, threads=args.threads)
    check_out_folder(args.out)
    return prepare_evidential(config, args.evaluate, args.mnist_path)


def make_engine(args):
    """The ``numpyuq.tasks.Engine`` of the compare / demo options, started: a scheduler that does not
    answer is a usage error (exit 2) before any work."""
    from .tasks import Engine
    backend = getattr(args, "backend", None)
    scheduler, cluster = getattr(args, "scheduler", None), getattr(args, "cluster", None)
    if backend is None:
        backend = "dask" if scheduler is not None or cluster is not None else "loky"
    return Engine(backend, jobs=args.jobs, scheduler=scheduler, cluster=cluster,
                  ray_address=getattr(args, "ray_address", None)).start()


def reproduce(config, out_dir, progress=True):
    """Reproduce the table of ``config`` (``experiments/reproduce.py``): train or resume, print and
    write the table."""
    from .experiments.reproduce import format_markdown, reproduce as reproduce_table, write_results
    result = reproduce_table(config, out_dir, progress=progress)
    print(format_markdown(result))
    for path in write_results(result, out_dir):
        print("wrote", path)
    return result


def run(args, prepared):
    if args.command == "reproduce":
        config, engine = prepared
        with engine:
            reproduce(config, args.out, progress=not args.no_progress)
    elif args.command in ("demo", "compare"):
        config, engine = prepared
        with engine:
            compare(config, args.out, progress=not args.no_progress)
    else:
        evidential(prepared[0], args.out, baseline=args.baseline, evaluate_path=args.evaluate,
                   mnist_path=args.mnist_path, progress=not args.no_progress, prepared=prepared)


def main(argv=None):
    """The command line; see the module docstring for the exit statuses."""
    parser = build_parser()
    args = parser.parse_args(argv)                  # argparse: exit 2 with a one-line usage error
    subparser = parser.subcommands[args.command]
    try:
        prepared = prepare(args)
    except (ValueError, TypeError, FileNotFoundError, NotADirectoryError, PermissionError) as err:
        if args.debug:
            raise
        subparser.error(one_line(err))             # exit 2, before anything is written
    try:
        run(args, prepared)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"numpyuq {args.command}: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as err:                        # noqa: BLE001 (every failure becomes one line)
        if args.debug:
            raise
        print(f"numpyuq {args.command}: error: {one_line(err)} (--debug shows the traceback)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
