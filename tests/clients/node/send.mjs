// Sends Segment calls with @segment/analytics-node to a streamapp worker.
// Usage: node send.mjs <host> <writeKey> <prefix> <count>
// Prints one JSON line per failed delivery on stderr; exits non-zero on any failure.
import { Analytics } from '@segment/analytics-node'

const [host, writeKey, prefix, countArg] = process.argv.slice(2)
const count = Number(countArg)
const analytics = new Analytics({ writeKey, host, flushAt: 50, flushInterval: 200, maxRetries: 3 })
let failures = 0
analytics.on('error', (err) => { failures += 1; console.error(JSON.stringify({ error: String(err && err.reason || err) })) })

const ts = new Date(Date.now() - 3600 * 1000)
analytics.identify({ anonymousId: `${prefix}-anon`, userId: `${prefix}-user`, traits: { plan: 'pro' }, messageId: `${prefix}-identify` })
analytics.alias({ previousId: `${prefix}-old`, userId: `${prefix}-user`, messageId: `${prefix}-alias` })
analytics.page({ userId: `${prefix}-user`, name: 'Home', messageId: `${prefix}-page` })
analytics.screen({ userId: `${prefix}-user`, name: 'Feed', messageId: `${prefix}-screen` })
analytics.group({ userId: `${prefix}-user`, groupId: 'g1', messageId: `${prefix}-group` })
for (let i = 0; i < count; i++) {
  analytics.track({ anonymousId: `${prefix}-a${i % 20}`, event: 'Viewed', properties: { i }, timestamp: ts, messageId: `${prefix}-t${i}` })
}
await analytics.closeAndFlush({ timeout: 30000 })
if (failures > 0) process.exit(1)
