#!/usr/bin/env node
// MPPS SCP on dcmjs-dimse, a DIMSE stack independent of pynetdicom, for izer's tests.
//
//   node mpps_scp.js --port 11117 --aet MPPSNODE --outdir DIR
//
// Same behaviour as ../mpps_pynetdicom.py (test-peers.md §4, PS3.4 F.7.2):
// - accepts Verification and the MPPS SOP Class (Implicit or Explicit VR Little Endian);
// - N-CREATE must carry Performed Procedure Step Status "IN PROGRESS" (else 0x0106) and a new
//   SOP Instance UID (else 0x0111, duplicate);
// - N-SET of an unknown instance: 0x0112; of a COMPLETED or DISCONTINUED one: 0x0110 (may no
//   longer be updated); of an attribute the N-CREATE did not create: 0x0105; bad status 0x0106;
//   a final status without end date/time, or COMPLETED with no performed series: 0x0121;
// - every accepted message is written as <uid>.000N.{create,set}.dcm and the merged instance
//   as <uid>.state.dcm in --outdir (with SOP Class/Instance UID, so they are Part-10 files).
'use strict';

const fs = require('fs');
const path = require('path');
const dcmjsDimse = require('dcmjs-dimse');

const { Dataset, Server, Scp } = dcmjsDimse;
const { CEchoResponse, NCreateResponse, NSetResponse } = dcmjsDimse.responses;
const { Status, PresentationContextResult, TransferSyntax, SopClass } = dcmjsDimse.constants;

const FINAL = new Set(['COMPLETED', 'DISCONTINUED']);
const STATUSES = new Set(['IN PROGRESS', 'COMPLETED', 'DISCONTINUED']);
const ACCEPTED_SYNTAXES = [TransferSyntax.ExplicitVRLittleEndian, TransferSyntax.ImplicitVRLittleEndian];

function parseArgs(argv) {
  const args = { aet: 'MPPSNODE' };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    args[key] = argv[i + 1];
  }
  if (!args.port || !args.outdir) {
    console.error('usage: node mpps_scp.js --port PORT [--aet AET] --outdir DIR');
    process.exit(2);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
fs.mkdirSync(args.outdir, { recursive: true });

/** uid -> { state: elements, count: accepted messages } */
const instances = new Map();

function log(...parts) {
  console.log(new Date().toISOString(), ...parts);
}

function isEmpty(value) {
  return value === undefined || value === null || value === '' ||
    (Array.isArray(value) && (value.length === 0 || (value.length === 1 && value[0] === '')));
}

function save(elements, file, uid) {
  const copy = { ...elements, SOPClassUID: SopClass.ModalityPerformedProcedureStep, SOPInstanceUID: uid };
  const partial = `${file}.part`;
  new Dataset(copy, TransferSyntax.ExplicitVRLittleEndian).toFile(partial);
  fs.renameSync(partial, file);
}

function record(uid, elements, kind) {
  const entry = instances.get(uid);
  entry.count += 1;
  const number = String(entry.count).padStart(4, '0');
  save(elements, path.join(args.outdir, `${uid}.${number}.${kind}.dcm`), uid);
  save(entry.state, path.join(args.outdir, `${uid}.state.dcm`), uid);
}

function refuse(response, code, comment) {
  log(`refused 0x${code.toString(16).padStart(4, '0')}: ${comment}`);
  response.setStatus(code);
  response.setErrorComment(comment.slice(0, 64));
  return response;
}

function elementsOf(request) {
  const dataset = request.getDataset();
  return dataset ? dataset.getElements() : {};
}

class MppsScp extends Scp {
  associationRequested(association) {
    this.association = association;
    for (const c of association.getPresentationContexts()) {
      const context = association.getPresentationContext(c.id);
      const abstract = context.getAbstractSyntaxUid();
      if (abstract !== SopClass.Verification && abstract !== SopClass.ModalityPerformedProcedureStep) {
        context.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
        continue;
      }
      const offered = context.getTransferSyntaxUids();
      const chosen = ACCEPTED_SYNTAXES.find((syntax) => offered.includes(syntax));
      if (chosen) {
        context.setResult(PresentationContextResult.Accept, chosen);
      } else {
        context.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
      }
    }
    this.sendAssociationAccept();
  }

  associationReleaseRequested() {
    this.sendAssociationReleaseResponse();
  }

  cEchoRequest(request, callback) {
    const response = CEchoResponse.fromRequest(request);
    response.setStatus(Status.Success);
    callback(response);
  }

  nCreateRequest(request, callback) {
    const response = NCreateResponse.fromRequest(request);
    const uid = request.getAffectedSopInstanceUid();
    const elements = elementsOf(request);
    if (!uid) {
      callback(refuse(response, 0x0120, 'the SCU must give the Affected SOP Instance UID'));
      return;
    }
    if (instances.has(uid)) {
      callback(refuse(response, 0x0111, 'this MPPS instance exists'));
      return;
    }
    const status = elements.PerformedProcedureStepStatus;
    if (status !== 'IN PROGRESS') {
      callback(refuse(response, 0x0106, `N-CREATE status ${JSON.stringify(status)}, must be IN PROGRESS`));
      return;
    }
    instances.set(uid, { state: { ...elements }, count: 0 });
    record(uid, elements, 'create');
    log(`N-CREATE ${uid} accepted`);
    response.setStatus(Status.Success);
    callback(response);
  }

  nSetRequest(request, callback) {
    const response = NSetResponse.fromRequest(request);
    const uid = request.getRequestedSopInstanceUid();
    const modification = elementsOf(request);
    const entry = instances.get(uid);
    if (!entry) {
      callback(refuse(response, 0x0112, 'no such MPPS instance'));
      return;
    }
    const state = entry.state;
    const current = state.PerformedProcedureStepStatus;
    if (FINAL.has(current)) {
      callback(refuse(response, 0x0110, `already ${current}`));
      return;
    }
    const next = modification.PerformedProcedureStepStatus ?? current;
    if (!STATUSES.has(next)) {
      callback(refuse(response, 0x0106, `status ${JSON.stringify(next)}`));
      return;
    }
    for (const key of Object.keys(modification)) {
      if (key === 'SpecificCharacterSet' || key === '_vrMap') continue;
      if (!(key in state)) {
        callback(refuse(response, 0x0105, `${key} was not created`));
        return;
      }
    }
    const merged = { ...state };
    for (const [key, value] of Object.entries(modification)) {
      // PS3.4 F.7.2.2.3: the N-SET character set is combined with, not replacing, the N-CREATE one.
      if (key !== 'SpecificCharacterSet' && key !== '_vrMap') merged[key] = value;
    }
    if (FINAL.has(next)) {
      for (const key of ['PerformedProcedureStepEndDate', 'PerformedProcedureStepEndTime']) {
        if (isEmpty(merged[key])) {
          callback(refuse(response, 0x0121, `${key} is required at ${next}`));
          return;
        }
      }
    }
    if (next === 'COMPLETED' && isEmpty(merged.PerformedSeriesSequence)) {
      callback(refuse(response, 0x0121, 'PerformedSeriesSequence is empty at COMPLETED'));
      return;
    }
    entry.state = merged;
    record(uid, modification, 'set');
    log(`N-SET ${uid} ${next} accepted`);
    response.setStatus(Status.Success);
    callback(response);
  }
}

const server = new Server(MppsScp);
server.on('networkError', (e) => log('network error:', e && e.message ? e.message : e));
server.listen(Number(args.port));
log(`MPPS SCP ${args.aet} listening on port ${args.port}`);

function stop() {
  log('stopping');
  server.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
