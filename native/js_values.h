// JsValues: reading and writing JavaScript values from native code in a way
// that no app code can change and that holds when node is tearing the environment down (a worker_thread that is
// terminated or exits). Every Node-API call that would run or allocate
// JavaScript then fails, and node-addon-api's conversions of a failed result
// (Napi::Boolean to bool, ArrayBuffer::Data, ...) call back into Node-API with
// no environment and abort the whole process. These helpers use the C calls,
// say when they failed, and run no JavaScript of the app's: every property and
// element of what the addon returns is defined on the object, not assigned, so
// no accessor an app left on Object.prototype or Array.prototype runs or takes
// the value (the library reads these objects to decide what is authorized).
#ifndef NATIVE_JS_VALUES_H_
#define NATIVE_JS_VALUES_H_

#include <napi.h>

#include <initializer_list>
#include <string>

namespace ctls {

// Defines `name` as an own, writable, enumerable, configurable data property,
// as an assignment to a plain object would, without consulting the prototype
// chain. False when it could not.
bool DefineOwn(napi_env env, napi_value object, const char* name, napi_value value);
bool DefineOwn(napi_env env, napi_value object, const char* name, const char* value);
bool DefineOwn(napi_env env, napi_value object, const char* name, const std::string& value);
bool DefineOwn(napi_env env, napi_value object, const char* name, double value);
bool DefineOwn(napi_env env, napi_value object, const char* name, bool value);

// Defines element `index` of `array` the same way: an accessor app code put on
// Array.prototype cannot take it (an array made with a length has only holes).
bool DefineElement(napi_env env, napi_value array, uint32_t index, napi_value value);

// A new array of `values` (at most 8), each element defined, in one call: the
// hot path's results (cycle(), write(), send()) are small fixed tuples. An empty
// value becomes undefined. nullptr when the array could not be made.
napi_value NewTuple(napi_env env, std::initializer_list<napi_value> values);

// Boolean(value) into *truth; false, with *truth untouched, when it could not
// be read. An empty value (a failed read before) cannot be read.
bool ReadTruth(napi_env env, napi_value value, bool* truth);

// Boolean(object[name]) into *truth (an accessor runs, as for any read of an
// option); false when the property or its truth could not be read.
bool ReadFlag(napi_env env, napi_value object, const char* name, bool* truth);

}  // namespace ctls

#endif  // NATIVE_JS_VALUES_H_
