"""Records: how an incident record is read (:mod:`.codec`, :mod:`.fastparse`), checked (:mod:`.validate`),
listed (:mod:`.listing`), cached (:mod:`.cache`) and written (:mod:`.transaction`)."""
