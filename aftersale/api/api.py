from ninja import NinjaAPI

from aftersale.api.ingest import router as ingest_router

api = NinjaAPI(title="Aftersale API", version="1")
api.add_router("/", ingest_router)
