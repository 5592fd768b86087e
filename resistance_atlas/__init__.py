from resistance_atlas.celery import app as celery_app

__all__ = ("celery_app",)
