"""nbgrader preprocessors used by the course configuration."""

from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests

__all__ = ["HideHiddenTests"]


class HideHiddenTests(ClearHiddenTests):
    """Remove hidden tests, and the tracebacks that would quote them.

    Used when feedback is generated from an autograded notebook, whose test
    cells hold the full source again. The hidden region is removed from
    every test cell; an error in a cell that had a hidden region keeps only
    its exception name and message, which the tests write for students.
    """

    # Autograded notebooks carry grade metadata on every cell that matters;
    # a cell without it never held hidden tests worth enforcing.
    enforce_metadata = False

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or not utils.is_grade(cell):
            return cell, resources
        if not self._remove_hidden_test_region(cell):
            return cell, resources
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [
                    f"{output.get('ename', 'Error')}: "
                    f"{output.get('evalue', '')}",
                    "(The traceback is not shown: it would quote hidden "
                    "tests.)",
                ]
        return cell, resources
