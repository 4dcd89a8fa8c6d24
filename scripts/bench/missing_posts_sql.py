"""The SQL that counts the acknowledged posts the database does not have, from a load test's
--acknowledged-posts file (`<id> <sent> <answered>` per line). Usage: missing_posts_sql.py FILE"""
import sys

ids = [line.split()[0] for line in open(sys.argv[1]) if line.strip()]
print("SELECT count(*) FROM unnest(ARRAY[" + ",".join(f"'{i}'::uuid" for i in ids)
      + "]::uuid[]) AS a(id) WHERE NOT EXISTS (SELECT 1 FROM public.posts p WHERE p.id = a.id);" if ids else "SELECT 0;")
