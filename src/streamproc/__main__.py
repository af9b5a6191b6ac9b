from streamproc.cli import main

raise SystemExit(main())
