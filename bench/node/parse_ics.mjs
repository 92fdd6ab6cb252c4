// Parse the same files as bench/parse_cost.py with ical.js, the way upstream reads events:
// every VEVENT's uid, summary, start, end, location and description. Prints JSON timings.
import { readFileSync } from 'node:fs'
import ICAL from 'ical.js'

function parse(text) {
  const component = new ICAL.Component(ICAL.parse(text))
  return component.getAllSubcomponents('vevent').map((vevent) => {
    const event = new ICAL.Event(vevent)
    return {
      uid: event.uid,
      summary: event.summary,
      startDate: event.startDate.toJSDate().toISOString(),
      endDate: event.endDate.toJSDate().toISOString(),
      location: event.location,
      description: event.description,
    }
  })
}

const results = {}
for (const path of process.argv.slice(2)) {
  const text = readFileSync(path, 'utf8')
  const events = parse(text).length
  const repeat = Math.max(3, Math.floor(20000 / Math.max(events, 1)))
  for (let i = 0; i < 3; i++) parse(text) // warm-up (JIT)
  const samples = []
  for (let i = 0; i < repeat; i++) {
    const start = process.hrtime.bigint()
    parse(text)
    samples.push(Number(process.hrtime.bigint() - start) / 1e6)
  }
  samples.sort((a, b) => a - b)
  results[path] = { events, p50_ms: samples[Math.floor(samples.length / 2)] }
}
console.log(JSON.stringify(results))
