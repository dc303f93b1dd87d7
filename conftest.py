"""Session set-up shared by every test, notebooks included."""


def pytest_configure(config):
    # Kernels started by nbval and nbgrader, and nbgrader's `alembic`, must
    # come from this environment even when it is not activated; kernels
    # use one BLAS thread each (see course_tools.course).
    from course_tools.course import use_environment_tools

    use_environment_tools()
    # On a fresh machine matplotlib builds its font cache on first import
    # and says so on stderr, which nbval would count as a changed output.
    # Build it here, once, before any notebook kernel starts.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.font_manager  # noqa: F401
