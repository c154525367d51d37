import sys

from pacer_celery.cli import main

sys.exit(main())
