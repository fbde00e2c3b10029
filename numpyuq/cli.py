"""The ``numpyuq`` command."""
import argparse
import os
import time



def demo(out_dir, epochs=100, seed=0, num_samples=10, ensemble_size=10, n_jobs=2, progress=True):
    """The SNGP seed's comparison: train four methods on two moons, print the table, plot surfaces."""
    from .experiments.two_moons import format_table, run_comparison
    from .plotting import plot_reliability, plot_surfaces

    os.makedirs(out_dir, exist_ok=True)
    start = time.perf_counter()
    data, results = run_comparison(seed=seed, epochs=epochs, num_samples=num_samples,
                                   ensemble_size=ensemble_size, n_jobs=n_jobs, progress=progress)
    print(format_table(results, data["y_test"]))
    path = plot_surfaces([(r.name, r.probs["grid"][:, 0]) for r in results], data["x"], data["y"],
                         data["x_ood"], os.path.join(out_dir, "moons_surfaces.png"))
    reliability = plot_reliability([(r.name, r.probs["test"]) for r in results], data["y_test"],
                                   os.path.join(out_dir, "moons_reliability.png"))
    print(f"\nwrote {path} and {reliability}\nwhole comparison: {time.perf_counter() - start:.1f} s")
    return data, results


def main(argv=None):
    parser = argparse.ArgumentParser(prog="numpyuq", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="two-moons uncertainty comparison (the SNGP seed)")
    p_demo.add_argument("--out", default="demo_output", help="folder for the figures")
    p_demo.add_argument("--epochs", type=int, default=100)
    p_demo.add_argument("--seed", type=int, default=0)
    p_demo.add_argument("--num-samples", type=int, default=10, help="MC dropout samples")
    p_demo.add_argument("--ensemble-size", type=int, default=10)
    p_demo.add_argument("--jobs", type=int, default=2, help="processes for the ensemble")
    p_demo.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo(args.out, epochs=args.epochs, seed=args.seed, num_samples=args.num_samples,
             ensemble_size=args.ensemble_size, n_jobs=args.jobs, progress=not args.no_progress)


if __name__ == "__main__":
    main()
