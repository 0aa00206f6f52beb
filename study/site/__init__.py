"""The study site: every concept's book form beside its torch form in the browser, with the book's
equations, the measured agreement and the tests, as static pages that work offline (`dlfs site`)."""

from study.site.build import SiteReport, build_site

__all__ = ["SiteReport", "build_site"]
