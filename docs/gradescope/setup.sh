#!/usr/bin/env bash
# Gradescope runs this once, when the autograder is built: the zip's files are in /autograder/source/ (the
# course folder: course_lib/, requirements.txt, pyproject.toml, ... and these two scripts at its top).
# Choose Gradescope's Ubuntu 24.04 base image (Python 3.12).
set -euo pipefail
apt-get update
apt-get install -y python3 python3-pip python3-venv
python3 -m venv /opt/course
/opt/course/bin/python -m pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
cd /autograder/source
/opt/course/bin/python -m pip install -r requirements.txt
ln -sf /opt/course/bin/python /usr/local/bin/course-python
# the grader runs each kernel under an unused uid: it must be able to read Python and the course
chmod a+x /autograder && chmod -R a+rX /opt/course /autograder/source
