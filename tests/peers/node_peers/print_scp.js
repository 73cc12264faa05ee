#!/usr/bin/env node
// Color + grayscale DICOM Print SCP on dcmjs-dimse, a DIMSE stack independent of pynetdicom,
// for izer's tests (DCMTK's dcmprscp prints grayscale only).
//
//   node print_scp.js --port 11118 --aet PRINTNODE --outdir DIR [--gray-only]
//
// Behaviour (PS3.4 Annex H, PS3.3 C.13):
// - accepts Verification, Basic Grayscale Print Management Meta and (unless --gray-only) Basic
//   Color Print Management Meta, in Implicit or Explicit VR Little Endian. The N-* requests carry
//   the real SOP class (Film Session, Film Box, Image Box, Printer) on the meta context;
// - N-GET Printer (well-known instance): Printer Status NORMAL; anything else 0x0112;
// - N-CREATE Film Session: kept (a second one replaces the first), attributes echoed;
// - N-CREATE Film Box: Image Display Format (2010,0010) and Referenced Film Session Sequence are
//   required (0x0120), STANDARD\C,R, ROW\a,b.., COL\a,b.. give the number of image boxes, anything
//   else 0x0106; the boxes are Color Image Boxes on the color meta, Grayscale ones otherwise and
//   are answered in Referenced Image Box Sequence (2010,0510);
// - N-SET Image Box: position, sequence (color: Basic Color Image Sequence, RGB, 8 bits, planar
//   configuration 1; grayscale: MONOCHROME1/2, 8 or 12 bits) and Pixel Data length are checked,
//   0x0120 (missing) or 0x0106 (invalid) with an Error Comment otherwise;
// - N-ACTION print (type 1) on a Film Box, or on the Film Session for all its film boxes: writes
//   DIR/film_NNNN/ (built as DIR/.film_NNNN.part/, then renamed) with filmbox.json and one
//   imagebox_<position>.dcm (Part-10, Explicit VR LE) per image box that was set; a film box
//   with no box set answers warning 0xB603 (empty page) and writes nothing;
// - N-DELETE Film Box / Film Session: success, 0x0112 when unknown.
// One log line per message goes to stdout.
//
// dcmjs-dimse 0.3.3 notes: responses go back on the presentation context the request came on, so
// N-* requests naming Film Session, Film Box ... on a meta context are answered fine; but the
// callbacks are not told that context, so `_performDimse` below records its abstract syntax as
// the request's meta SOP class. dcmjs splits text at backslashes, even ST: Image Display Format
// arrives as ['STANDARD', '2,1'] and is joined again (it is written back correctly).
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const dcmjsDimse = require('dcmjs-dimse');

const { Dataset, Server, Scp } = dcmjsDimse;
const {
  CEchoResponse, NActionResponse, NCreateResponse, NDeleteResponse, NGetResponse, NSetResponse,
} = dcmjsDimse.responses;
const { Status, PresentationContextResult, TransferSyntax } = dcmjsDimse.constants;

/** UIDs of PS3.4 Annex H (print management) and the Verification SOP Class. */
const UID = {
  Verification: '1.2.840.10008.1.1',
  GrayscaleMeta: '1.2.840.10008.5.1.1.9',
  ColorMeta: '1.2.840.10008.5.1.1.18',
  FilmSession: '1.2.840.10008.5.1.1.1',
  FilmBox: '1.2.840.10008.5.1.1.2',
  GrayscaleImageBox: '1.2.840.10008.5.1.1.4',
  ColorImageBox: '1.2.840.10008.5.1.1.4.1',
  Printer: '1.2.840.10008.5.1.1.16',
  PrinterInstance: '1.2.840.10008.5.1.1.17',
};

/** DIMSE status codes used here (PS3.7 Annex C, PS3.4 H.4). */
const STATUS = {
  Success: Status.Success,
  ProcessingFailure: 0x0110,
  NoSuchAttribute: 0x0105,
  InvalidAttributeValue: 0x0106,
  NoSuchSopInstance: 0x0112,
  NoSuchSopClass: 0x0118,
  ClassInstanceConflict: 0x0119,
  MissingAttribute: 0x0120,
  NoSuchActionType: 0x0123,
  SopClassNotSupported: 0x0122,
  EmptySession: 0xb602,
  EmptyPage: 0xb603,
};

const ACCEPTED_SYNTAXES = [TransferSyntax.ExplicitVRLittleEndian, TransferSyntax.ImplicitVRLittleEndian];
const PRINTER_ATTRIBUTES = {
  PrinterStatus: 'NORMAL',
  PrinterStatusInfo: 'NORMAL',
  PrinterName: 'IZER TEST PRINTER',
  Manufacturer: 'izer tests',
};
/** Attributes every Basic Color/Grayscale Image Sequence item must hold (PS3.3 C.13.5). */
const PIXEL_MODULE = [
  'SamplesPerPixel', 'PhotometricInterpretation', 'Rows', 'Columns', 'BitsAllocated',
  'BitsStored', 'HighBit', 'PixelRepresentation', 'PixelData',
];

function parseArgs(argv) {
  const args = { aet: 'PRINTNODE', grayOnly: false };
  for (let i = 0; i < argv.length; i += 1) {
    const key = argv[i].replace(/^--/, '');
    if (key === 'gray-only') {
      args.grayOnly = true;
    } else {
      args[key] = argv[i + 1];
      i += 1;
    }
  }
  if (!args.port || !args.outdir) {
    console.error('usage: node print_scp.js --port PORT [--aet AET] --outdir DIR [--gray-only]');
    process.exit(2);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
fs.mkdirSync(args.outdir, { recursive: true });

/** Number of the last film written into --outdir (films are numbered across associations). */
let filmCount = fs.readdirSync(args.outdir)
  .map((name) => /^film_(\d+)$/.exec(name))
  .filter(Boolean)
  .reduce((last, match) => Math.max(last, Number(match[1])), 0);

function log(...parts) {
  console.log(new Date().toISOString(), ...parts);
}

function hex(code) {
  return `0x${code.toString(16).padStart(4, '0')}`;
}

function newUid() {
  return `2.25.${BigInt(`0x${crypto.randomBytes(16).toString('hex')}`)}`;
}

function isEmpty(value) {
  return value === undefined || value === null || value === '' ||
    (Array.isArray(value) && (value.length === 0 || (value.length === 1 && value[0] === '')));
}

/**
 * Keywords of ST (single-valued text) attributes of the print objects: dcmjs splits every text
 * value at its backslashes when reading, so `STANDARD\2,1` arrives as ['STANDARD', '2,1'].
 */
const SINGLE_TEXT = new Set(['ImageDisplayFormat', 'ConfigurationInformation']);

/** The value of an ST element as one string (dcmjs splits it, see SINGLE_TEXT). */
function text(value) {
  return Array.isArray(value) ? value.join('\\') : String(value ?? '');
}

/** A single value of a naturalized element (dcmjs gives multi-valued ones as arrays). */
function single(value) {
  return Array.isArray(value) && value.length === 1 ? value[0] : value;
}

function elementsOf(request) {
  const dataset = request.getDataset();
  return dataset ? dataset.getElements() : {};
}

function refuse(response, code, comment) {
  log(`  refused ${hex(code)}: ${comment}`);
  response.setStatus(code);
  // Error Comment (0000,0902) is LO: 64 characters at most (PS3.7 C.4).
  response.setErrorComment(comment.slice(0, 64));
  return response;
}

function succeed(response, elements, transferSyntax) {
  response.setStatus(STATUS.Success);
  // An empty data set would be announced (Command Data Set Type) and never sent: the SCU then
  // waits for it until its DIMSE timeout. Nothing to echo means no data set at all.
  if (elements && Object.keys(elements).length > 0) {
    response.setDataset(new Dataset(elements, transferSyntax));
  }
  return response;
}

/**
 * Number of image boxes of an Image Display Format (PS3.3 C.13.5.1, 2010,0010), or null.
 * dcmjs may hand the ST value back split at its backslash, so arrays are joined again.
 */
function imageBoxCount(format) {
  const match = /^(STANDARD|ROW|COL)\\(\d+(?:,\d+)*)$/.exec(text(format).trim());
  if (!match) return null;
  const numbers = match[2].split(',').map(Number);
  if (numbers.some((n) => n < 1)) return null;
  if (match[1] === 'STANDARD') {
    return numbers.length === 2 ? numbers[0] * numbers[1] : null;
  }
  return numbers.reduce((sum, n) => sum + n, 0);
}

/** Total byte length of a naturalized Pixel Data value (an array of ArrayBuffers in dcmjs). */
function byteLength(value) {
  const parts = Array.isArray(value) ? value : [value];
  return parts.reduce((sum, part) => sum + (part ? part.byteLength ?? 0 : 0), 0);
}

/**
 * What is wrong with an image box N-SET (PS3.4 H.4.3.1, PS3.3 C.13.5), or null.
 * Returns [status, comment].
 */
function imageBoxProblem(box, elements) {
  const position = single(elements.ImageBoxPosition);
  if (isEmpty(position)) return [STATUS.MissingAttribute, 'ImageBoxPosition (2020,0010) missing'];
  if (Number(position) !== box.position) {
    return [STATUS.InvalidAttributeValue, `ImageBoxPosition ${position}, this box is ${box.position}`];
  }
  const color = box.sopClass === UID.ColorImageBox;
  const wanted = color ? 'BasicColorImageSequence' : 'BasicGrayscaleImageSequence';
  const other = color ? 'BasicGrayscaleImageSequence' : 'BasicColorImageSequence';
  const sequence = elements[wanted];
  if (isEmpty(sequence)) {
    if (!isEmpty(elements[other])) {
      return [STATUS.InvalidAttributeValue, `${other} sent to a ${color ? 'color' : 'grayscale'} box`];
    }
    return [STATUS.MissingAttribute, `${wanted} missing`];
  }
  if (!Array.isArray(sequence) || sequence.length !== 1) {
    return [STATUS.InvalidAttributeValue, `${wanted} must hold exactly one item`];
  }
  const item = sequence[0];
  const required = color ? [...PIXEL_MODULE, 'PlanarConfiguration'] : PIXEL_MODULE;
  for (const keyword of required) {
    if (isEmpty(item[keyword])) return [STATUS.MissingAttribute, `${keyword} missing in ${wanted}`];
  }
  const number = (keyword) => Number(single(item[keyword]));
  const invalid = (comment) => [STATUS.InvalidAttributeValue, comment];
  const samples = number('SamplesPerPixel');
  const photometric = String(single(item.PhotometricInterpretation)).trim();
  const [rows, columns] = [number('Rows'), number('Columns')];
  const bits = ['BitsAllocated', 'BitsStored', 'HighBit'].map(number).join('/');
  const allocated = number('BitsAllocated');
  if (number('PixelRepresentation') !== 0) return invalid('PixelRepresentation must be 0 (unsigned)');
  if (!(rows > 0 && columns > 0)) return invalid(`Rows ${rows} x Columns ${columns}`);
  if (color) {
    if (samples !== 3) return invalid(`SamplesPerPixel ${samples}, color needs 3`);
    if (photometric !== 'RGB') return invalid(`PhotometricInterpretation ${photometric}, needs RGB`);
    if (bits !== '8/8/7') return invalid(`bits allocated/stored/high ${bits}, color needs 8/8/7`);
    if (number('PlanarConfiguration') !== 1) {
      return invalid('PlanarConfiguration must be 1 (color-by-plane)');
    }
  } else {
    if (samples !== 1) return invalid(`SamplesPerPixel ${samples}, grayscale needs 1`);
    if (photometric !== 'MONOCHROME1' && photometric !== 'MONOCHROME2') {
      return invalid(`PhotometricInterpretation ${photometric}, needs MONOCHROME1/2`);
    }
    if (bits !== '8/8/7' && bits !== '16/12/11') {
      return invalid(`bits allocated/stored/high ${bits}, needs 8/8/7 or 16/12/11`);
    }
  }
  const expected = rows * columns * samples * (allocated / 8);
  const actual = byteLength(item.PixelData);
  if (actual !== expected && !(expected % 2 === 1 && actual === expected + 1)) {
    return invalid(`PixelData has ${actual} bytes, expected ${expected}`);
  }
  return null;
}

/** A naturalized dataset as plain JSON: sequences as arrays of objects, binary as its length. */
function toJson(elements) {
  const out = {};
  for (const [keyword, value] of Object.entries(elements)) {
    if (keyword === '_vrMap' || keyword === '_meta') continue;
    out[keyword] = SINGLE_TEXT.has(keyword) ? text(value) : jsonValue(value);
  }
  return out;
}

function jsonValue(value) {
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return { bytes: value.byteLength };
  if (Array.isArray(value)) {
    if (value.length === 1 && (value[0] === null || typeof value[0] !== 'object')) return value[0];
    return value.map(jsonValue);
  }
  if (value && typeof value === 'object') return toJson(value); // a sequence item or a PN
  return value;
}

function writeFilm(association, session, filmBox) {
  const boxes = filmBox.imageBoxes.filter((box) => box.dataset);
  filmCount += 1;
  const name = `film_${String(filmCount).padStart(4, '0')}`;
  const partial = path.join(args.outdir, `.${name}.part`);
  fs.rmSync(partial, { recursive: true, force: true });
  fs.mkdirSync(partial);
  try {
    writeFilmFiles(partial, association, session, filmBox, boxes);
  } catch (error) {
    fs.rmSync(partial, { recursive: true, force: true }); // no partial film is ever left
    throw error;
  }
  fs.renameSync(partial, path.join(args.outdir, name));
  log(`  printed ${name}: ${boxes.length} image box(es) of film box ${filmBox.uid}`);
  return name;
}

/** filmbox.json and imagebox_<position>.dcm of one film, into the folder *partial*. */
function writeFilmFiles(partial, association, session, filmBox, boxes) {
  const imageBoxes = [];
  for (const box of boxes) {
    const file = `imagebox_${box.position}.dcm`;
    const elements = { ...box.dataset, SOPClassUID: box.sopClass, SOPInstanceUID: box.uid };
    new Dataset(elements, TransferSyntax.ExplicitVRLittleEndian).toFile(path.join(partial, file));
    imageBoxes.push({ position: box.position, sop_class: box.sopClass, sop_instance: box.uid, file });
  }
  const summary = {
    calling_aet: association.getCallingAeTitle(),
    meta_sop_class: filmBox.meta,
    film_session_uid: session ? session.uid : null,
    film_session: session ? toJson(session.elements) : {},
    film_box_uid: filmBox.uid,
    film_box: toJson(filmBox.elements),
    image_boxes: imageBoxes,
  };
  fs.writeFileSync(path.join(partial, 'filmbox.json'), `${JSON.stringify(summary, null, 2)}\n`);
}

const PRINT_METAS = new Set([UID.GrayscaleMeta, UID.ColorMeta]);

class PrintScp extends Scp {
  constructor(...rest) {
    super(...rest);
    this.session = null; // { uid, elements, meta }
    this.filmBoxes = new Map(); // uid -> { uid, elements, meta, imageBoxes: [...] }
    this.imageBoxes = new Map(); // uid -> { uid, position, sopClass, dataset }
  }

  /**
   * dcmjs-dimse 0.3.3 hands N-* requests to the callbacks without their presentation context and
   * leaves their meta SOP class unset; this hook (its own dispatch method) records the abstract
   * syntax of the context the request came on, so Film Box N-CREATE knows color from grayscale.
   */
  _performDimse(context, dimse) {
    if (context && dimse && typeof dimse.setMetaSopClassUid === 'function') {
      dimse.setMetaSopClassUid(context.getAbstractSyntaxUid());
    }
    super._performDimse(context, dimse);
  }

  /** The meta SOP class a request came on (fallback: the only print meta accepted). */
  metaOf(request) {
    const meta = request.getMetaSopClassUid();
    if (meta) return meta;
    const accepted = this.acceptedMetas || [];
    return accepted.length === 1 ? accepted[0] : undefined;
  }

  associationRequested(association) {
    this.association = association;
    this.acceptedMetas = [];
    const supported = new Set([UID.Verification, UID.GrayscaleMeta]);
    if (!args.grayOnly) supported.add(UID.ColorMeta);
    for (const c of association.getPresentationContexts()) {
      const context = association.getPresentationContext(c.id);
      const abstract = context.getAbstractSyntaxUid();
      if (!supported.has(abstract)) {
        context.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
        continue;
      }
      const offered = context.getTransferSyntaxUids();
      const chosen = ACCEPTED_SYNTAXES.find((syntax) => offered.includes(syntax));
      if (chosen) {
        context.setResult(PresentationContextResult.Accept, chosen);
        if (PRINT_METAS.has(abstract)) this.acceptedMetas.push(abstract);
      } else {
        context.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
      }
    }
    const metas = JSON.stringify(this.acceptedMetas);
    log(`association from ${association.getCallingAeTitle()}: print metas ${metas}`);
    this.sendAssociationAccept();
  }

  associationReleaseRequested() {
    log('association released');
    this.sendAssociationReleaseResponse();
  }

  cEchoRequest(request, callback) {
    const response = CEchoResponse.fromRequest(request);
    response.setStatus(Status.Success);
    callback(response);
  }

  /** Refuse requests that did not come on a print meta context (0x0122). */
  checkMeta(request, response, callback) {
    const meta = this.metaOf(request);
    if (!PRINT_METAS.has(meta)) {
      callback(refuse(response, STATUS.SopClassNotSupported, `not on a print meta context (${meta})`));
      return undefined;
    }
    return meta;
  }

  nGetRequest(request, callback) {
    const response = NGetResponse.fromRequest(request);
    const [sopClass, uid] = [request.getRequestedSopClassUid(), request.getRequestedSopInstanceUid()];
    log(`N-GET ${sopClass} ${uid}`);
    if (!this.checkMeta(request, response, callback)) return;
    if (sopClass !== UID.Printer || uid !== UID.PrinterInstance) {
      callback(refuse(response, STATUS.NoSuchSopInstance, `no such instance ${uid}`));
      return;
    }
    const wanted = request.getAttributeIdentifierList();
    const known = Object.keys(PRINTER_ATTRIBUTES);
    const keys = wanted.length ? wanted.filter((k) => known.includes(k)) : known;
    const attributes = Object.fromEntries(keys.map((k) => [k, PRINTER_ATTRIBUTES[k]]));
    const syntax = this.syntaxOf(request);
    callback(succeed(response, attributes, syntax));
  }

  /** Transfer syntax for a response dataset: the request's, else Implicit VR LE. */
  syntaxOf(request) {
    const dataset = request.getDataset();
    return dataset ? dataset.getTransferSyntaxUid() : TransferSyntax.ImplicitVRLittleEndian;
  }

  nCreateRequest(request, callback) {
    const response = NCreateResponse.fromRequest(request);
    const sopClass = request.getAffectedSopClassUid();
    const uid = request.getAffectedSopInstanceUid() || newUid();
    const elements = elementsOf(request);
    log(`N-CREATE ${sopClass} ${uid}`);
    const meta = this.checkMeta(request, response, callback);
    if (!meta) return;
    response.setAffectedSopInstanceUid(uid);
    if (sopClass === UID.FilmSession) {
      if (this.session) log(`  replaces film session ${this.session.uid}`);
      this.session = { uid, elements: { ...elements }, meta };
      this.filmBoxes.clear();
      this.imageBoxes.clear();
      callback(succeed(response, elements, this.syntaxOf(request)));
      return;
    }
    if (sopClass !== UID.FilmBox) {
      callback(refuse(response, STATUS.NoSuchSopClass, `cannot N-CREATE ${sopClass}`));
      return;
    }
    const problem = this.filmBoxProblem(elements);
    if (problem) {
      callback(refuse(response, ...problem));
      return;
    }
    const count = imageBoxCount(elements.ImageDisplayFormat);
    const boxClass = meta === UID.ColorMeta ? UID.ColorImageBox : UID.GrayscaleImageBox;
    const imageBoxes = [];
    for (let position = 1; position <= count; position += 1) {
      const box = { uid: newUid(), position, sopClass: boxClass, dataset: null };
      imageBoxes.push(box);
      this.imageBoxes.set(box.uid, box);
    }
    this.filmBoxes.set(uid, { uid, elements: { ...elements }, meta, imageBoxes });
    const answer = {
      ...elements,
      ReferencedImageBoxSequence: imageBoxes.map((box) => ({
        ReferencedSOPClassUID: box.sopClass,
        ReferencedSOPInstanceUID: box.uid,
      })),
    };
    const kind = boxClass === UID.ColorImageBox ? 'color' : 'grayscale';
    log(`  film box ${text(elements.ImageDisplayFormat)}: ${count} ${kind} box(es)`);
    callback(succeed(response, answer, this.syntaxOf(request)));
  }

  /** What is wrong with a Film Box N-CREATE (PS3.4 H.4.2.2.1), or null. */
  filmBoxProblem(elements) {
    if (isEmpty(elements.ImageDisplayFormat)) {
      return [STATUS.MissingAttribute, 'ImageDisplayFormat (2010,0010) missing'];
    }
    const reference = elements.ReferencedFilmSessionSequence;
    if (isEmpty(reference)) {
      return [STATUS.MissingAttribute, 'ReferencedFilmSessionSequence (2010,0500) missing'];
    }
    const item = Array.isArray(reference) ? reference[0] : reference;
    if (!this.session || !item || item.ReferencedSOPInstanceUID !== this.session.uid) {
      return [STATUS.InvalidAttributeValue, 'ReferencedFilmSessionSequence: no such film session'];
    }
    if (imageBoxCount(elements.ImageDisplayFormat) === null) {
      const format = JSON.stringify(text(elements.ImageDisplayFormat));
      return [STATUS.InvalidAttributeValue, `ImageDisplayFormat ${format} unknown`];
    }
    return null;
  }

  nSetRequest(request, callback) {
    const response = NSetResponse.fromRequest(request);
    const [sopClass, uid] = [request.getRequestedSopClassUid(), request.getRequestedSopInstanceUid()];
    const elements = elementsOf(request);
    log(`N-SET ${sopClass} ${uid}`);
    if (!this.checkMeta(request, response, callback)) return;
    const syntax = this.syntaxOf(request);
    const box = this.imageBoxes.get(uid);
    if (box && box.sopClass !== sopClass) {
      const comment = `box ${box.position} is a ${box.sopClass}`;
      callback(refuse(response, STATUS.ClassInstanceConflict, comment));
      return;
    }
    if (box) {
      const problem = imageBoxProblem(box, elements);
      if (problem) {
        callback(refuse(response, ...problem));
        return;
      }
      box.dataset = { ...elements };
      log(`  image box ${box.position} set`);
      callback(succeed(response, null, syntax));
      return;
    }
    const session = this.session && this.session.uid === uid ? this.session : undefined;
    const target = sopClass === UID.FilmBox ? this.filmBoxes.get(uid)
      : sopClass === UID.FilmSession ? session : undefined;
    if (!target) {
      callback(refuse(response, STATUS.NoSuchSopInstance, `no such ${sopClass} instance`));
      return;
    }
    Object.assign(target.elements, elements);
    callback(succeed(response, null, syntax));
  }

  nActionRequest(request, callback) {
    const response = NActionResponse.fromRequest(request);
    const [sopClass, uid] = [request.getRequestedSopClassUid(), request.getRequestedSopInstanceUid()];
    const action = request.getActionTypeId();
    log(`N-ACTION ${sopClass} ${uid} type ${action}`);
    if (!this.checkMeta(request, response, callback)) return;
    let filmBoxes;
    if (sopClass === UID.FilmBox && this.filmBoxes.has(uid)) {
      filmBoxes = [this.filmBoxes.get(uid)];
    } else if (sopClass === UID.FilmSession && this.session && this.session.uid === uid) {
      filmBoxes = [...this.filmBoxes.values()];
    } else {
      callback(refuse(response, STATUS.NoSuchSopInstance, `no such ${sopClass} instance`));
      return;
    }
    if (action !== 1) {
      callback(refuse(response, STATUS.NoSuchActionType, `action type ${action}, only 1 (print)`));
      return;
    }
    const printable = filmBoxes.filter((filmBox) => filmBox.imageBoxes.some((box) => box.dataset));
    if (printable.length === 0) {
      const code = sopClass === UID.FilmBox ? STATUS.EmptyPage : STATUS.EmptySession;
      log(`  warning ${hex(code)}: no image box was set, nothing printed`);
      response.setStatus(code);
      callback(response);
      return;
    }
    try {
      for (const filmBox of printable) writeFilm(this.association, this.session, filmBox);
    } catch (error) {
      callback(refuse(response, STATUS.ProcessingFailure, `could not write the film: ${error.message}`));
      return;
    }
    response.setStatus(STATUS.Success);
    callback(response);
  }

  nDeleteRequest(request, callback) {
    const response = NDeleteResponse.fromRequest(request);
    const [sopClass, uid] = [request.getRequestedSopClassUid(), request.getRequestedSopInstanceUid()];
    log(`N-DELETE ${sopClass} ${uid}`);
    if (!this.checkMeta(request, response, callback)) return;
    if (sopClass === UID.FilmBox && this.filmBoxes.has(uid)) {
      for (const box of this.filmBoxes.get(uid).imageBoxes) this.imageBoxes.delete(box.uid);
      this.filmBoxes.delete(uid);
    } else if (sopClass === UID.FilmSession && this.session && this.session.uid === uid) {
      this.session = null;
      this.filmBoxes.clear();
      this.imageBoxes.clear();
    } else {
      callback(refuse(response, STATUS.NoSuchSopInstance, `no such ${sopClass} instance`));
      return;
    }
    response.setStatus(STATUS.Success);
    callback(response);
  }
}

const server = new Server(PrintScp);
server.on('networkError', (e) => log('network error:', e && e.message ? e.message : e));
server.listen(Number(args.port));
log(`Print SCP ${args.aet} listening on port ${args.port}${args.grayOnly ? ' (grayscale only)' : ''}`);

function stop() {
  log('stopping');
  server.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
