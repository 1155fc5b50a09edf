"""Reading recipe source as Python: the one place a recipe (written by a model, perhaps to break
us) is parsed, so the parser's own limits are said as what they are, a file that does not parse.
CPython 3.11's parser raises RecursionError or MemoryError, not SyntaxError, on an expression
nested or chained a few thousand deep, and ValueError on a null byte."""

from __future__ import annotations

import ast

PARSER_LIMITS = (RecursionError, MemoryError, ValueError)


def parse(source: bytes | str, filename: str = "<recipe>") -> ast.Module:
    """`ast.parse`, raising SyntaxError for everything the source cannot be parsed for."""
    try:
        return ast.parse(source, filename=filename)
    except PARSER_LIMITS as exc:
        raise _unparsable(exc, filename) from None


def compile_check(source: bytes | str, filename: str) -> None:
    """`compile` (which checks more than the parser: a `return` outside a function, say), with the
    same SyntaxError for the parser's limits."""
    try:
        compile(source, filename, "exec", dont_inherit=True)
    except PARSER_LIMITS as exc:
        raise _unparsable(exc, filename) from None


def _unparsable(exc: Exception, filename: str) -> SyntaxError:
    why = str(exc) if isinstance(exc, ValueError) else (
        f"nested or chained too deeply for Python's parser ({type(exc).__name__}); split the expression")
    return SyntaxError(why, (filename, 1, 0, ""))


def literal_value(node: ast.AST):
    """`ast.literal_eval` of a parsed expression, raising ValueError for one that is not a literal
    and for one nested too deeply to evaluate (literal_eval recurses in Python)."""
    try:
        return ast.literal_eval(node)
    except (RecursionError, MemoryError):
        raise ValueError("a literal nested too deeply to evaluate") from None
