// The checks of scripts/check-dashboard that need JavaScript (the schema check with ajv and the
// sanity checks; see the comment at the top of that script), run by it as
//   node validate.js TOOLS SCHEMA RULES_DIR FILE...
// TOOLS is the directory the locked npm packages are installed in, SCHEMA the JSON Schema generated
// from @grafana/schema's Dashboard type. Every problem is one line `FILE: WHERE: WHAT` on stderr;
// the exit code is 1 when there is any. For the i-th file that parses, it writes `RULES_DIR/i.yml`
// (JSON is YAML) with one recording rule per expr, for `promtool check rules`.
'use strict';
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');
const [tools, schemaPath, rulesDir, ...files] = process.argv.slice(2);
const Ajv = createRequire(path.join(tools, 'package.json'))('ajv').default;
const validate = new Ajv({ allErrors: true, strict: false, verbose: true }).compile(JSON.parse(fs.readFileSync(schemaPath, 'utf8')));

// Keep in step with tests/it/common/dashboard.rs.
const SUBSTITUTIONS = [[/\$__rate_interval\b/g, '1m'], [/\$__interval\b/g, '15s'], [/\$__range\b/g, '5m']];
const ALLOWED_VARIABLES = new Set(['__rate_interval', '__interval', '__range']);
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
const GRID_COLUMNS = 24;

let failures = 0;
const isObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);

// The known mismatches described at the top of scripts/check-dashboard, on a copy.
function forSchema(dashboard) {
  const copy = structuredClone(dashboard);
  for (const variable of copy?.templating?.list ?? []) {
    if (isObject(variable) && isObject(variable.current) && Object.keys(variable.current).length === 0) delete variable.current;
  }
  const annotationTargetKeys = new Set(['limit', 'matchAny', 'tags', 'type']);
  for (const annotation of copy?.annotations?.list ?? []) {
    if (isObject(annotation) && annotation.builtIn === 1 && isObject(annotation.target)
        && Object.keys(annotation.target).every((key) => annotationTargetKeys.has(key))) delete annotation.target;
  }
  return copy;
}

// A panel is Panel | RowPanel (anyOf): report only the branch the panel's `type` selects, not why
// it is not the other one.
function pruneAnyOf(errors) {
  const dropped = new Set();
  for (const anyOf of errors.filter((error) => error.keyword === 'anyOf')) {
    const branches = Array.isArray(anyOf.schema) ? anyOf.schema : [];
    const type = isObject(anyOf.data) ? anyOf.data.type : undefined;
    const constants = branches.map((branch) => branch?.properties?.type?.const);
    let chosen = constants.flatMap((constant, index) => (constant !== undefined && constant === type ? [index] : []));
    if (chosen.length === 0) chosen = constants.flatMap((constant, index) => (constant === undefined ? [index] : []));
    if (chosen.length === 0 || chosen.length === branches.length) continue;
    const prefix = `${anyOf.schemaPath}/`;
    const inside = errors.filter((error) => error.schemaPath.startsWith(prefix)
      && (error.instancePath === anyOf.instancePath || error.instancePath.startsWith(`${anyOf.instancePath}/`)));
    const kept = inside.filter((error) => chosen.includes(Number(error.schemaPath.slice(prefix.length).split('/')[0])));
    if (kept.length === 0) continue;
    for (const error of inside) if (!kept.includes(error)) dropped.add(error);
    dropped.add(anyOf);
  }
  return errors.filter((error) => !dropped.has(error));
}

function panelName(dashboard, instancePath) {
  const match = /^\/panels\/(\d+)(?:\/panels\/(\d+))?/.exec(instancePath);
  if (!match) return '';
  let panel = dashboard.panels?.[Number(match[1])];
  if (match[2] !== undefined) panel = panel?.panels?.[Number(match[2])];
  return isObject(panel) && typeof panel.title === 'string' ? ` (panel "${panel.title}")` : '';
}

function describe(error) {
  const details = {
    additionalProperties: () => `: "${error.params.additionalProperty}"`,
    enum: () => `: ${JSON.stringify(error.params.allowedValues)}`,
    const: () => `: ${JSON.stringify(error.params.allowedValue)}`,
  }[error.keyword];
  return `${error.message}${details ? details() : ''}`;
}

function report(file, where, what) {
  console.error(`${file}: ${where || '/'}: ${what}`);
  failures += 1;
}

function checkSchema(file, dashboard) {
  if (validate(forSchema(dashboard))) return;
  for (const error of pruneAnyOf(validate.errors)) {
    report(file, error.instancePath, `${describe(error)}${panelName(dashboard, error.instancePath)}`);
  }
}

function substitute(expr) {
  return SUBSTITUTIONS.reduce((text, [pattern, value]) => text.replace(pattern, value), expr);
}

function sameDatasource(datasource) {
  return isObject(datasource) && datasource.type === DATASOURCE.type && datasource.uid === DATASOURCE.uid;
}

// Returns the recording rules of the file's exprs.
function checkSanity(file, dashboard) {
  const rules = [];
  if (!isObject(dashboard)) {
    report(file, '/', 'the dashboard must be a JSON object');
    return rules;
  }
  const variables = Array.isArray(dashboard.templating?.list) ? dashboard.templating.list : [];
  const datasourceVariable = variables.find((variable) => isObject(variable) && variable.name === 'datasource');
  if (!datasourceVariable || datasourceVariable.type !== 'datasource' || datasourceVariable.query !== 'prometheus') {
    report(file, '/templating/list', 'needs a variable named "datasource" of type "datasource" with query "prometheus"');
  }
  const panels = [];
  (Array.isArray(dashboard.panels) ? dashboard.panels : []).forEach((panel, index) => {
    panels.push([`/panels/${index}`, panel]);
    if (isObject(panel) && panel.type === 'row' && Array.isArray(panel.panels)) {
      panel.panels.forEach((nested, nestedIndex) => panels.push([`/panels/${index}/panels/${nestedIndex}`, nested]));
    }
  });
  if (!panels.some(([, panel]) => isObject(panel) && panel.type !== 'row')) report(file, '/panels', 'the dashboard has no panels');
  const ids = new Map();
  for (const [where, panel] of panels) {
    if (!isObject(panel)) {
      report(file, where, 'a panel must be an object');
      continue;
    }
    const name = typeof panel.title === 'string' ? ` (panel "${panel.title}")` : '';
    if (!Number.isInteger(panel.id)) report(file, `${where}/id`, `a panel needs an integer id${name}`);
    else if (ids.has(panel.id)) report(file, `${where}/id`, `id ${panel.id} is also the id of ${ids.get(panel.id)}${name}`);
    else ids.set(panel.id, where);
    const grid = panel.gridPos;
    if (!isObject(grid)) report(file, `${where}/gridPos`, `a panel needs a gridPos object${name}`);
    else if (!['h', 'w', 'x', 'y'].every((key) => Number.isInteger(grid[key]) && grid[key] >= 0) || grid.h < 1 || grid.w < 1) {
      report(file, `${where}/gridPos`, `needs integers h >= 1, w >= 1, x >= 0, y >= 0${name}`);
    } else if (grid.x + grid.w > GRID_COLUMNS) report(file, `${where}/gridPos`, `x + w is more than ${GRID_COLUMNS} columns${name}`);
    if (panel.type === 'row') continue;
    if (typeof panel.title !== 'string' || panel.title.trim() === '') report(file, `${where}/title`, 'a panel needs a title');
    if (!sameDatasource(panel.datasource)) report(file, `${where}/datasource`, `must be ${JSON.stringify(DATASOURCE)}${name}`);
    if (!Array.isArray(panel.targets) || panel.targets.length === 0) {
      report(file, `${where}/targets`, `a panel needs at least one target${name}`);
      continue;
    }
    const refIds = new Set();
    panel.targets.forEach((target, index) => {
      const at = `${where}/targets/${index}`;
      if (!isObject(target)) return report(file, at, `a target must be an object${name}`);
      if (typeof target.refId !== 'string' || target.refId === '' || refIds.has(target.refId)) {
        report(file, `${at}/refId`, `a target needs a refId unique in its panel${name}`);
      }
      refIds.add(target.refId);
      if ('datasource' in target && !sameDatasource(target.datasource)) report(file, `${at}/datasource`, `must be ${JSON.stringify(DATASOURCE)}${name}`);
      if (typeof target.expr !== 'string' || target.expr.trim() === '') return report(file, `${at}/expr`, `a target needs a non-empty expr${name}`);
      const variables = [...target.expr.matchAll(/\$\{?(\w*)/g)].map((match) => match[1]).filter((variable) => !ALLOWED_VARIABLES.has(variable));
      if (variables.length > 0 || target.expr.includes('[[')) {
        return report(file, `${at}/expr`, `uses Grafana variables other than $__rate_interval, $__interval, $__range: ${JSON.stringify(target.expr)}${name}`);
      }
      const record = `netchaos_dashboard:panel_${panel.id}:${String(target.refId).replace(/[^A-Za-z0-9_]/g, '_')}`;
      rules.push({ record, expr: substitute(target.expr) });
    });
  }
  return rules;
}

files.forEach((file, index) => {
  let dashboard;
  try {
    dashboard = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    return report(file, '/', `not readable JSON: ${error.message}`);
  }
  checkSchema(file, dashboard);
  const rules = checkSanity(file, dashboard);
  if (rules.length > 0) {
    const group = { name: path.basename(file), rules };
    fs.writeFileSync(path.join(rulesDir, `${index}.yml`), JSON.stringify({ groups: [group] }, null, 2));
  }
});
process.exit(failures > 0 ? 1 : 0);
