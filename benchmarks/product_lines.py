"""Lines of the product (ludwig_hub_export/ outside testing/): all of them, and those of code (neither blank, a
comment nor a docstring). `python benchmarks/product_lines.py [PACKAGE_DIR]`; for another commit, point it at
`git archive REV ludwig_hub_export | tar -x -C DIR`."""

import ast
import sys
from pathlib import Path


def count(root: Path) -> tuple[int, int]:
    total = code = 0
    for path in sorted(root.rglob("*.py")):
        if "testing" in path.relative_to(root).parts:
            continue
        source = path.read_text()
        docstrings = set()
        for node in ast.walk(ast.parse(source)):
            body = getattr(node, "body", None)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body \
                    and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
        lines = source.splitlines()
        total += len(lines)
        code += sum(1 for n, line in enumerate(lines, 1)
                    if line.strip() and not line.strip().startswith("#") and n not in docstrings)
    return total, code


if __name__ == "__main__":
    total, code = count(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parents[1] / "ludwig_hub_export"))
    print(f"lines {total}, code {code}")
