"""Where things live: the orchestrator folder (code, shipped scriptlets) and the work folder (Data, Logs, Assets)."""
import os
from pathlib import Path
from typing import NamedTuple, Optional

from .errors import UserError

HOME = Path(__file__).resolve().parent.parent  # the orchestrator/ folder


class Paths(NamedTuple):
    home: Path
    workdir: Path

    @classmethod
    def for_workdir(cls, workdir: Optional[Path] = None) -> "Paths":
        chosen = workdir or Path(os.environ.get("ORCH_WORKDIR") or HOME)
        return cls(home=HOME, workdir=chosen.resolve())

    @property
    def data(self) -> Path:
        return self.workdir / "Data"

    @property
    def logs(self) -> Path:
        return self.workdir / "Logs"

    @property
    def assets(self) -> Path:
        return self.workdir / "Assets"

    @property
    def runs(self) -> Path:
        return self.data / "runs"

    @property
    def db(self) -> Path:
        return self.data / "orchestrator.db"

    @property
    def recipe_cache(self) -> Optional[Path]:
        """Validated recipes, shared by every work folder of this user: $ORCH_CACHE_DIR/recipes, else
        $XDG_CACHE_HOME/orchestrator/recipes; ORCH_RECIPE_CACHE=0 turns it off (every load validates)."""
        if os.environ.get("ORCH_RECIPE_CACHE", "1") == "0":
            return None
        if os.environ.get("ORCH_CACHE_DIR"):
            return Path(os.environ["ORCH_CACHE_DIR"]) / "recipes"
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return Path(base) / "orchestrator" / "recipes"

    @property
    def search(self) -> tuple[Path, ...]:
        """Folders a step's cmd/module is looked up in: the work folder first, then the shipped scriptlets."""
        return (self.workdir,) if self.workdir == self.home else (self.workdir, self.home)

    def recipe(self, given: Path) -> Path:
        """The recipe path as given (from the current folder), else relative to the work or orchestrator folder."""
        if given.is_absolute() or given.exists():
            return given.resolve() if given.exists() else given
        for base in self.search:
            if (base / given).exists():
                return (base / given).resolve()
        return given

    def store_on_ram(self) -> bool:
        """`store_on_ram.txt` holds true or false; missing means false (durable on disk)."""
        for base in self.search:
            flag = base / "store_on_ram.txt"
            if flag.exists():
                value = flag.read_text(encoding="utf-8").strip().lower()
                if value not in ("true", "false"):
                    raise UserError(f"{flag}: must hold 'true' or 'false', not {value[:40]!r}")
                return value == "true"
        return False
