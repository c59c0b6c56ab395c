"""Command-line value types and settings helpers shared by the example scripts.

Each value type is an `argparse` ``type=``: it turns the text into a value
or raises `argparse.ArgumentTypeError`, so that a bad value ends in the
parser's usage message naming the option, the value received and what is
allowed, before anything heavy starts. `add_setting_arguments`,
`parse_settings` and `merge_settings` turn a task's settings (a dict of
defaults, a toy budget and overrides) into options, check them through
the parser and merge them.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

#: Values of ``--strategy``: one device, `tf.distribute.MirroredStrategy`,
#: `tf.distribute.MultiWorkerMirroredStrategy`.
STRATEGIES = ("none", "mirrored", "multiworker")


def _parse(text: str, cast: type, ok, expected: str):
    try:
        value = cast(text)
    except (TypeError, ValueError):
        value = None
    if value is None or not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}. Received: {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _parse(text, int, lambda v: v >= 1, "an integer >= 1")


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    return _parse(text, int, lambda v: v >= 0, "an integer >= 0")


def positive_float(text: str) -> float:
    """A finite float > 0."""
    return _parse(text, float, lambda v: 0.0 < v < math.inf, "a finite number > 0")


def probability(text: str) -> float:
    """A float in [0, 1]."""
    return _parse(text, float, lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]")


def minority_fraction(text: str) -> float:
    """A float in (0, 0.5): the share of the minority class."""
    return _parse(text, float, lambda v: 0.0 < v < 0.5, "a number in (0, 0.5)")


def digit(text: str) -> int:
    """An integer from 0 to 9."""
    return _parse(text, int, lambda v: 0 <= v <= 9, "a digit 0 to 9")


def size_list(text: str) -> tuple[int, ...]:
    """Comma-separated integers >= 1, such as ``8,32,128``.

    >>> size_list("8,32")
    (8, 32)
    """
    try:
        return tuple(positive_int(t) for t in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers >= 1. Received: {text!r}"
        ) from None


def seed_list(text: str) -> list[int]:
    """Seeds: a count ``N`` (seeds ``0..N-1``) or a list such as ``0,3,7``.

    >>> seed_list("3")
    [0, 1, 2]
    >>> seed_list("4,2")
    [4, 2]
    """
    if "," not in text:
        return list(range(positive_int(text)))
    seeds = [_parse(s, int, lambda v: v >= 0, "seeds >= 0") for s in text.split(",")]
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct seeds. Received: {text!r}")
    return seeds


def choice_list(choices: tuple[str, ...]):
    """A type for a comma-separated, non-empty subset of ``choices``."""

    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        if not names or any(n not in choices for n in names):
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated subset of {', '.join(choices)}. "
                f"Received: {text!r}"
            )
        return names

    return parse


def add_strategy_arguments(
    parser: argparse.ArgumentParser, default: str = "none"
) -> None:
    """Adds ``--strategy`` and ``--replicas``; see `check_strategy_arguments`."""
    parser.add_argument(
        "--strategy",
        default=default,
        choices=STRATEGIES,
        help="tf.distribute strategy (TensorFlow backend only): 'none' is one "
        "device, 'mirrored' one process over several devices, 'multiworker' "
        "one process per worker with TF_CONFIG set",
    )
    parser.add_argument(
        "--replicas",
        type=positive_int,
        default=None,
        help="for --strategy mirrored: the first N GPUs, or N logical CPU "
        "devices without GPUs (default: all GPUs, else 2)",
    )


def check_strategy_arguments(
    parser: argparse.ArgumentParser, args: argparse.Namespace, backend: str
) -> None:
    """Refuses, through the parser, a strategy the run cannot honour.

    A `tf.distribute` strategy needs the TensorFlow backend; ``--replicas``
    applies to ``mirrored`` only; ``multiworker`` needs ``TF_CONFIG`` (this
    fails here, before minutes of data loading, not in the strategy).
    """
    if args.strategy != "none" and backend != "tensorflow":
        # tf.distribute strategies hold TensorFlow variables and run
        # TensorFlow functions: they cannot drive a JAX or PyTorch model.
        parser.error(
            f"argument --strategy: {args.strategy!r} is a tf.distribute "
            f"strategy and needs the TensorFlow Keras backend; with the "
            f"{backend!r} backend only 'none' is allowed. "
            f"Received: {args.strategy!r}"
        )
    if args.replicas is not None and args.strategy != "mirrored":
        parser.error(
            "argument --replicas: applies to --strategy mirrored only "
            "(multiworker has one replica per worker and device, none has "
            f"one). Received: {args.replicas} with --strategy {args.strategy}"
        )
    if args.strategy == "multiworker" and "TF_CONFIG" not in os.environ:
        parser.error(
            "argument --strategy: 'multiworker' needs the TF_CONFIG "
            "environment variable (cluster and task) in every worker. "
            "Received: 'multiworker' without TF_CONFIG"
        )


class DefaultsHelpFormatter(argparse.HelpFormatter):
    r"""Help that shows each option's default once.

    `argparse.ArgumentDefaultsHelpFormatter` appends ``(default: ...)`` to
    every help that lacks ``%(default)``, so an option whose help states
    its default in words (a None default the script fills in after
    parsing, such as "default: 30, or 2 with --fast") printed it twice.
    This formatter appends the default only where the help does not
    mention one, the default is not None and the option takes a value
    (a flag's False says nothing); options without help show it too.
    Lists are written as on the command line (comma-separated).

    >>> parser = argparse.ArgumentParser(formatter_class=DefaultsHelpFormatter)
    >>> _ = parser.add_argument("--epochs", type=int, help="epochs (default: 30)")
    >>> _ = parser.add_argument("--lr", type=float, default=1e-3, help="rate")
    >>> _ = parser.add_argument("--sizes", default=[8, 32])
    >>> _ = parser.add_argument("--fast", action="store_true", help="smoke run")
    >>> text = " ".join(parser.format_help().split())  # any terminal width
    >>> "--epochs EPOCHS epochs (default: 30) --lr" in text
    True
    >>> "rate (default: 0.001)" in text, "default: 8,32" in text
    (True, True)
    >>> "(default: None)" in text or "(default: False)" in text
    False
    """

    def _format_action(self, action: argparse.Action) -> str:
        shown = _shown_default(action)
        if shown is not None:
            action = copy.copy(action)
            # _expand_help applies %-formatting: a literal % must be doubled.
            shown = shown.replace("%", "%%")
            text = (action.help or "").strip()
            action.help = f"{text} (default: {shown})" if text else f"default: {shown}"
        return super()._format_action(action)


def _shown_default(action: argparse.Action) -> str | None:
    """The default to append to an option's help, or None to leave it."""
    help_text = action.help or ""
    if (
        action.default is None
        or action.default is argparse.SUPPRESS
        or help_text is argparse.SUPPRESS
        or action.nargs == 0  # flags: store_true, help, BooleanOptionalAction
        or not action.option_strings  # positionals: required, no default
        or "%(default)" in help_text
        # The help already says it ("default: 30", "(default 3 seeds",
        # "default on for JAX"), not merely naming a choice 'default'.
        or re.search(r"\bdefault[:\s]", help_text)
    ):
        return None
    return _shown(action.default)


def make_parser(doc: str, *, show_defaults: bool = False) -> argparse.ArgumentParser:
    r"""A script's parser, described by its docstring's first paragraph.

    Args:
        doc: The script's module docstring.
        show_defaults: Whether the help shows every option's default
            (`DefaultsHelpFormatter`: once, where the help does not
            already state it).

    Returns:
        The parser.

    >>> make_parser("Trains a model.\n\nMore text.").description
    'Trains a model.'
    """
    return argparse.ArgumentParser(
        description=doc.split("\n\n")[0],
        formatter_class=(
            DefaultsHelpFormatter if show_defaults else argparse.HelpFormatter
        ),
    )


def add_training_arguments(
    parser: argparse.ArgumentParser,
    *,
    config_choices: Sequence[str],
    config_help: str,
    variants: Sequence[str],
    variants_default: list[str] | None,
    seeds_help: str,
    epochs_help: str,
    jit_compile_help: str,
    lr_help: str | None = None,
) -> None:
    """Adds the options of a texture-network comparison.

    ``--config`` (one of `config_choices`, default None), ``--variants``
    (`choice_list` of `variants`), ``--seeds`` (`seed_list`, default None),
    ``--epochs`` (default None), ``--batch-size`` (8), ``--lr`` (1e-3),
    ``--filters`` (32) and ``--jit-compile``/``--no-jit-compile`` (default
    None); the script fills in the None defaults after parsing.

    Args:
        parser: The script's parser.
        config_choices: The dataset configs ``--config`` allows.
        config_help: The help of ``--config``.
        variants: The variants ``--variants`` allows.
        variants_default: The default of ``--variants``.
        seeds_help: The help of ``--seeds``.
        epochs_help: The help of ``--epochs``.
        jit_compile_help: The help of ``--jit-compile``.
        lr_help: The help of ``--lr``.
    """
    parser.add_argument(
        "--config", choices=config_choices, default=None, help=config_help
    )
    parser.add_argument(
        "--variants",
        type=choice_list(tuple(variants)),
        default=variants_default,
        help="comma-separated subset of " + ", ".join(variants),
    )
    parser.add_argument("--seeds", type=seed_list, default=None, help=seeds_help)
    parser.add_argument("--epochs", type=positive_int, default=None, help=epochs_help)
    parser.add_argument("--batch-size", type=positive_int, default=8)
    parser.add_argument("--lr", type=positive_float, default=1e-3, help=lr_help)
    parser.add_argument("--filters", type=positive_int, default=32)
    parser.add_argument(
        "--jit-compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=jit_compile_help,
    )


def add_output_arguments(
    parser: argparse.ArgumentParser,
    *,
    fast_help: str,
    out_dir: str | None,
    out_dir_help: str | None = None,
) -> None:
    """Adds ``--fast`` (a flag) and ``--out-dir``.

    Args:
        parser: The script's parser.
        fast_help: The help of ``--fast``.
        out_dir: The default of ``--out-dir``.
        out_dir_help: The help of ``--out-dir``.
    """
    parser.add_argument("--fast", action="store_true", help=fast_help)
    parser.add_argument("--out-dir", default=out_dir, help=out_dir_help)


def _shown(value: Any) -> str:
    """A setting as it is written on the command line (tuples comma-separated)."""
    if isinstance(value, tuple | list):
        return ",".join(map(str, value))
    return str(value)


def make_task_parser(doc: str, fast_help: str, out_dir: str) -> argparse.ArgumentParser:
    """A script's parser with ``--fast`` and ``--out-dir`` (its default shown).

    Args:
        doc: The script's module docstring (see `make_parser`).
        fast_help: The help of ``--fast``.
        out_dir: The default of ``--out-dir``.

    Returns:
        The parser.
    """
    parser = make_parser(doc)
    add_output_arguments(
        parser, fast_help=fast_help, out_dir=out_dir, out_dir_help=f"default {out_dir}"
    )
    return parser


def add_setting_arguments(
    parser: argparse.ArgumentParser,
    defaults: Mapping[str, Any],
    settings: Mapping[str, tuple[Callable[[str], Any], str]],
) -> tuple[str, ...]:
    """Adds one option per setting of a task, each defaulting to None.

    The option of setting ``n_train`` is ``--n-train``; left out, it is
    None and the task's own default applies. Its help is the given text
    followed by the default of ``defaults`` (when the setting has one).

    >>> parser = argparse.ArgumentParser()
    >>> add_setting_arguments(parser, {"steps": 10, "sizes": (8, 32)},
    ...                       {"steps": (positive_int, "gradient steps"),
    ...                        "sizes": (str, "")})
    ('steps', 'sizes')
    >>> parser.parse_args(["--steps", "3"])
    Namespace(steps=3, sizes=None)
    >>> [a.help for a in parser._actions[1:]]
    ['gradient steps, default 10', 'default 8,32']

    Args:
        parser: The script's parser.
        defaults: The task's default settings.
        settings: Setting name to ``(type, help)``.

    Returns:
        The settings' names, in order.
    """
    for key, (kind, text) in settings.items():
        if key in defaults:
            shown = f"default {_shown(defaults[key])}"
            text = f"{text}, {shown}" if text else shown
        parser.add_argument("--" + key.replace("_", "-"), type=kind, help=text)
    return tuple(settings)


def parse_settings(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    keys: Sequence[str],
    check: Callable[[bool, Mapping[str, Any]], Sequence[tuple[str, str]]],
    make_config: Callable[..., dict[str, Any]],
) -> argparse.Namespace:
    """Parses a task's command line and builds its settings, as ``cfg``.

    Args:
        parser: The script's parser, with ``--fast`` and the options of
            `add_setting_arguments`.
        argv: The command line, or None for ``sys.argv[1:]``.
        keys: The settings' names (``add_setting_arguments``'s result).
        check: The task's check, ``check(fast, overrides)`` returning
            ``(setting, message)`` problems; the first ends the script
            with ``argument --<setting>: <message>`` (exit code 2).
        make_config: The task's ``make_config(fast, **overrides)``.

    Returns:
        The parsed arguments, with ``cfg`` added.
    """
    args = parser.parse_args(argv)
    overrides = {key: getattr(args, key) for key in keys}
    for key, message in check(args.fast, overrides)[:1]:
        parser.error(f"argument --{key.replace('_', '-')}: {message}")
    args.cfg = make_config(args.fast, **overrides)
    return args


def merge_settings(
    defaults: Mapping[str, Any],
    fast_settings: Mapping[str, Any],
    fast: bool,
    overrides: Mapping[str, Any],
    extra: Sequence[str] = (),
) -> dict[str, Any]:
    """A task's settings: its defaults, then its toy budget, then overrides.

    >>> merge_settings({"a": 1, "b": 2}, {"b": 3}, True, {"a": None})
    {'a': 1, 'b': 3}

    Args:
        defaults: The default settings.
        fast_settings: The settings `fast` replaces.
        fast: Whether to apply `fast_settings`.
        overrides: Settings to replace; None values are ignored.
        extra: Keys allowed in `overrides` besides those of `defaults`.

    Returns:
        The settings (a new dict).

    Raises:
        ValueError: on an override that is not a known setting.
    """
    allowed = sorted({*defaults, *extra})
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise ValueError(
            f"Invalid value for argument `overrides`: expected keys of {allowed}; "
            f"unknown {unknown}. Received: overrides={dict(overrides)!r}"
        )
    cfg = {**defaults, **(fast_settings if fast else {})}
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    return cfg
