// drive.mjs: the official JS SDK (@bitrix24/b24jssdk, pinned in package.json) drives a
// bitrix24test server, through its webhook and through OAuth with a refresh. The Go test
// (jssdk_test.go) starts the server, passes its endpoints in B24_CONFIG, and checks the
// JSON this script prints and what the server saw. Any failure exits 1.
import { B24Hook, B24OAuth } from '@bitrix24/b24jssdk'

const cfg = JSON.parse(process.env.B24_CONFIG)
const out = {}

function data(res, what) {
  if (!res.isSuccess) {
    throw new Error(`${what}: ${JSON.stringify(res.getErrorMessages())}`)
  }
  return res.getData()
}

// Webhook: a call, a batch, a list walked by the SDK's cursor.
const hook = B24Hook.fromWebhookUrl(cfg.webhook)
hook.offClientSideWarning()
out.hookTime = data(await hook.actions.v2.call.make({ method: 'server.time' }), 'server.time').result
const hookBatch = data(await hook.actions.v2.batch.make({
  calls: { time: ['server.time', {}], me: ['profile', {}] },
  options: { isHaltOnError: true }
}), 'hook batch')
out.hookBatch = hookBatch
const items = data(await hook.actions.v2.callList.make({
  method: 'crm.item.list',
  params: { entityTypeId: cfg.entityTypeId, select: ['id', 'title'] },
  idKey: 'id',
  customKeyForResult: 'items'
}), 'crm.item.list')
out.listIds = items.map((it) => Number(it.id))

// OAuth: the pair has expired; the SDK refreshes at the token URL it derives from
// server_endpoint, then calls.
const refreshed = []
const b24 = new B24OAuth({
  applicationToken: '',
  userId: 1,
  memberId: cfg.memberId,
  accessToken: cfg.accessToken,
  refreshToken: cfg.refreshToken,
  expires: Math.floor(Date.now() / 1000) - 60,
  expiresIn: 3600,
  scope: cfg.scope,
  domain: cfg.domain,
  clientEndpoint: cfg.clientEndpoint,
  serverEndpoint: cfg.serverEndpoint,
  status: 'L'
}, { clientId: cfg.clientId, clientSecret: cfg.clientSecret })
b24.offClientSideWarning()
b24.setCallbackRefreshAuth(async ({ authData }) => {
  refreshed.push(authData.access_token)
})
out.profile = data(await b24.actions.v2.call.make({ method: 'profile' }), 'profile').result
out.refreshed = refreshed

out.optionSet = data(await b24.actions.v2.call.make({
  method: 'user.option.set', params: { options: { theme: 'dark', size: '12' } }
}), 'user.option.set').result
out.optionGet = data(await b24.actions.v2.call.make({
  method: 'user.option.get', params: { option: 'theme' }
}), 'user.option.get').result

out.fieldTypeAdd = data(await b24.actions.v2.call.make({
  method: 'userfieldtype.add',
  params: { USER_TYPE_ID: 'jsrating', HANDLER: cfg.handler, TITLE: 'JS rating', DESCRIPTION: 'from the JS SDK' }
}), 'userfieldtype.add').result
out.fieldTypes = data(await b24.actions.v2.call.make({ method: 'userfieldtype.list' }), 'userfieldtype.list').result

// The helper's batch: app.info with profile on the portal, halting on error.
out.appBatch = data(await b24.actions.v2.batch.make({
  calls: { app: ['app.info', {}], profile: ['profile', {}] },
  options: { isHaltOnError: true }
}), 'app.info batch')

process.stdout.write(JSON.stringify(out))
