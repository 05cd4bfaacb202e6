"""The `grade` command: what students and instructors type.

Exit status: 0 whenever grading ran, whatever the score; 1 when there was nothing to grade or the
grader itself could not run; 2 for a mistyped command line (click's usage errors).

One module per command (or family of commands); `options` and `printing` hold what they share.
"""

from __future__ import annotations

import click

from grader.cli.course_commands import check, gradescope, list_, release, secret
from grader.cli.export_command import export
from grader.cli.rejudge_command import rejudge
from grader.cli.report_command import report
from grader.cli.submit_command import submit


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="rnn-autograder")
def main() -> None:
    """Autograder of the recurrent-neural-network course.

    \b
    Students:     grade submit a1_srn_numpy/        check your work, get an HTML feedback page
    Instructors:  grade report submissions/ --out grades/    grade a whole class
                  grade export grades/              one zip per student of the page to send back
                  grade release                     rebuild student_template/ from solutions/
                  grade list                        assignments, checks and points
    """


for _command in (submit, report, export, rejudge, gradescope, secret, check, list_, release):
    main.add_command(_command)
