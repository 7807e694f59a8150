"""What `check` reports: its findings (`Problem`) and the report they make (`CheckReport`), as text or a dict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..limits import human_size
from .safetensors_header import SafetensorsHeader
from .saved_model import ModelLayout


@dataclass
class Problem:
    """One finding of `check`: how bad, which file, what is wrong and how to fix it."""

    severity: str  # "error" or "warning"
    file: str
    message: str
    fix: str
    code: str


@dataclass
class CheckReport:
    """What `check` found in a saved model: its layout, the files to upload and the problems."""

    source: str
    kind: str | None = None
    kind_reason: str | None = None
    problems: list[Problem] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)  # normalized path -> size
    left_out: dict[str, str] = field(default_factory=dict)
    bytes_read: int = 0
    seconds: float = 0.0
    layout: ModelLayout | None = field(default=None, repr=False)
    headers: dict[str, SafetensorsHeader] = field(default_factory=dict, repr=False)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def status(self, strict: bool = False) -> str:
        if self.errors or (strict and self.warnings):
            return "FAILED"
        return "PASSED with warnings" if self.warnings else "PASSED"

    def passed(self, strict: bool = False) -> bool:
        return self.status(strict) != "FAILED"

    def to_dict(self, strict: bool = False) -> dict:
        return {
            "source": self.source, "status": self.status(strict), "kind": self.kind, "reason": self.kind_reason,
            "problems": [asdict(p) for p in self.problems], "files": self.files, "left_out": self.left_out,
            "bytes_read": self.bytes_read, "seconds": round(self.seconds, 4),
        }

    def format(self, strict: bool = False) -> str:
        lines = [f"Checking {self.source}"]
        if self.kind:
            lines.append(f"  kind: {self.kind} ({self.kind_reason})")
            total = sum(self.files.values())
            lines.append(f"  files: {len(self.files)}, {human_size(total)}")
        for path, why in self.left_out.items():
            lines.append(f"  left out: {path} ({why})")
        for p in self.problems:
            label = "ERROR  " if p.severity == "error" or strict else "WARNING"
            lines.append(f"  {label} {p.file}: {p.message}")
            lines.append(f"          fix: {p.fix}")
        n_err, n_warn = len(self.errors), len(self.warnings)
        summary = self.status(strict)
        if n_err or n_warn:
            summary += f" ({n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)})"
        lines.append(summary)
        return "\n".join(lines)
