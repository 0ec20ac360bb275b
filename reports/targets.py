"""The targets report figures are shown against, from `policies/compliance/targets.yaml`.

Read with the policies' safe YAML loader (bounded, positions kept) and checked like a policy: every
problem is `FILE:LINE:COL: message` and a file with any problem is refused whole. Without the file,
the platform commitments apply (the defaults below). Reference: docs/reports.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from policy_engine.language.problems import PolicyError, Problem, did_you_mean
from policy_engine.language.yamlsource import DocPath, SourceMap, load_yaml_file

# Where the targets live, below a policy folder (the policy loader skips this folder).
TARGETS_FILE = Path("compliance") / "targets.yaml"


def _share(value: float) -> float:
    if not 0 <= value <= 1:
        raise ValueError("a rate is a share from 0 to 1 (90 % is 0.9)")
    return value


def _score(value: int) -> int:
    if not 1 <= value <= 5:
        raise ValueError("the follow-up's score is from 1 to 5")
    return value


Rate = Annotated[float, AfterValidator(_share)]
Score = Annotated[int, AfterValidator(_score)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClockTarget(_Strict):
    on_time_rate: Rate


class SlaTargets(_Strict):
    on_time_rate: Rate = 0.90  # the platform's "at least 90 % handled on time"
    clocks: dict[str, ClockTarget] = Field(default_factory=dict)

    def on_time_for(self, clock: str) -> float:
        target = self.clocks.get(clock)
        return target.on_time_rate if target is not None else self.on_time_rate


class SatisfactionTargets(_Strict):
    satisfied_score: Score = 4  # on the follow-up's 1-5 scale
    satisfaction_rate: Rate = 0.90  # the platform's "at least 90 % satisfied"
    response_rate: Rate = 0.50


class MerchantTargets(_Strict):
    breach_rate: Rate = 0.10  # at most
    satisfaction_rate: Rate = 0.90  # at least
    complaint_share: Rate = 0.20  # at most


class Targets(_Strict):
    sla: SlaTargets = Field(default_factory=SlaTargets)
    satisfaction: SatisfactionTargets = Field(default_factory=SatisfactionTargets)
    merchants: MerchantTargets = Field(default_factory=MerchantTargets)


def targets_path(policy_dir: Path) -> Path:
    return policy_dir / TARGETS_FILE


def load_targets(path: Path, known_clocks: Iterable[str] | None = None, display: str | None = None) -> Targets:
    """The targets in `path` (the defaults when it does not exist); raises PolicyError with every problem.

    `known_clocks`: the SLA clock names of the policy set, to refuse a target for a clock no policy has.
    """
    if not path.exists():
        return Targets()
    name = display or str(path)
    raw, smap, problems = load_yaml_file(path, name)
    if problems:
        raise PolicyError(problems)
    if raw is None:  # an empty file: every default
        return Targets()
    if not isinstance(raw, dict):
        raise PolicyError([Problem(name, 1, 1, "the targets are a mapping with sla, satisfaction, merchants")])
    try:
        targets = Targets.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(_problems(exc, smap)) from None
    if known_clocks is not None:
        known = sorted(set(known_clocks))
        unknown = [
            smap.problem(
                ("sla", "clocks", clock),
                f"no policy has an SLA clock '{clock}'{did_you_mean(clock, known)}",
                at_key=True,
            )
            for clock in targets.sla.clocks
            if clock not in known
        ]
        if unknown:
            raise PolicyError(unknown)
    return targets


def _problems(exc: ValidationError, smap: SourceMap) -> list[Problem]:
    problems = []
    for error in exc.errors():
        path: DocPath = tuple(part for part in error["loc"] if isinstance(part, str | int))
        name = str(path[-1]) if path else ""
        if error["type"] == "extra_forbidden":
            known = _keys_of(path[:-1])
            problems.append(smap.problem(path, f"unknown key '{name}'{did_you_mean(name, known)}", at_key=True))
            continue
        if error["type"] == "missing":
            problems.append(smap.problem(path[:-1], f"missing required key '{name}'"))
            continue
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(smap.problem(path, f"{name}: {message}" if name else message))
    return problems


def _keys_of(path: DocPath) -> list[str]:
    """The keys allowed in the mapping at `path`, for a typo's suggestion."""
    if "clocks" in path:  # a clock's own targets
        return list(ClockTarget.model_fields)
    model: type[BaseModel] = Targets
    for part in path:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)
