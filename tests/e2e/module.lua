-- The module the SDK scenarios run against; the bindings in bindings2.js
-- and bindings1.js declare the same tables (columns in this order, the
-- same SATS types) and reducers.
atrium.table("person", { public = true,
  { "id", "u32", primary_key = true }, { "name", "string" }, { "age", "u8" }, { "owner", "identity" } })
atrium.table("note", { public = true, { "text", "string" }, { "stars", "i64", optional = true } })
atrium.reducer("add", { { "id", "u32" }, { "name", "string" }, { "age", "u8" } }, function(ctx, id, name, age)
  db.person:insert{ id = id, name = name, age = age, owner = ctx.sender }
end)
atrium.reducer("rename", { { "id", "u32" }, { "name", "string" } }, function(ctx, id, name)
  local p = db.person:find(id)
  if not p then error("no person " .. id) end
  p.name = name
  db.person:update(p)
end)
atrium.reducer("remove", { { "id", "u32" } }, function(ctx, id) db.person:delete(id) end)
atrium.reducer("fail", { { "why", "string" } }, function(ctx, why) error(why) end)
