"""D1 export: turn the migrations into SQL that wrangler applies to Cloudflare D1."""
