-- Argo CD health of operetta's objects: Frameworks, and the instances of
-- every kind a Framework generates. It reads the conditions operetta writes,
-- the way kstatus does:
--   Healthy      Ready=True and nothing in progress
--   Progressing  not reconciled yet, a plan runs or retries, a Framework
--                installs or rolls out
--   Degraded     Stalled (invalid Framework, a plan or a child failed for
--                good), or a plan done whose child is not ready any more
--   Suspended    an instance held by operetta.dev/paused (Paused=True):
--                a person took it out of operetta's hands; a Framework
--                whose rollout a person paused (RolloutPaused), as Argo
--                CD reads a paused Deployment
local hs = { status = "Progressing", message = "waiting for operetta to reconcile it" }
if obj.status == nil then
  return hs
end
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Paused" and c.status == "True" then
      return { status = "Suspended", message = c.message }
    end
  end
end
local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.message = "waiting for operetta to observe generation " .. generation
  return hs
end
local ready, reconciling, stalled
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then
      ready = c
    elseif c.type == "Reconciling" and c.status == "True" then
      reconciling = c
    elseif c.type == "Stalled" and c.status == "True" then
      stalled = c
    end
  end
end
if stalled ~= nil then
  return { status = "Degraded", message = stalled.message }
end
if reconciling ~= nil then
  if reconciling.reason == "ChildNotReady" then
    return { status = "Degraded", message = reconciling.message }
  end
  if reconciling.reason == "RolloutPaused" then
    return { status = "Suspended", message = reconciling.message }
  end
  return { status = "Progressing", message = reconciling.message }
end
if ready ~= nil and ready.status == "True" then
  return { status = "Healthy", message = ready.message }
end
if ready ~= nil then
  hs.message = ready.message
end
return hs
