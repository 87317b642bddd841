// JsValues: reading and writing JavaScript values from native code in a way
// that holds when node is tearing the environment down (a worker_thread that is
// terminated or exits). Every Node-API call that would run or allocate
// JavaScript then fails, and node-addon-api's conversions of a failed result
// (Napi::Boolean to bool, ArrayBuffer::Data, ...) call back into Node-API with
// no environment and abort the whole process. These helpers use the C calls,
// say when they failed, and run no JavaScript of the app's: a property set here
// is defined on the object, so no setter an app left on Object.prototype runs.
#ifndef NATIVE_JS_VALUES_H_
#define NATIVE_JS_VALUES_H_

#include <napi.h>

namespace ctls {

// Defines `name` as an own, writable, enumerable, configurable data property,
// as an assignment to a plain object would, without consulting the prototype
// chain. False when it could not.
bool DefineOwn(napi_env env, napi_value object, const char* name, napi_value value);
bool DefineOwn(napi_env env, napi_value object, const char* name, const char* value);
bool DefineOwn(napi_env env, napi_value object, const char* name, double value);
bool DefineOwn(napi_env env, napi_value object, const char* name, bool value);

// Boolean(value) into *truth; false, with *truth untouched, when it could not
// be read. An empty value (a failed read before) cannot be read.
bool ReadTruth(napi_env env, napi_value value, bool* truth);

// Boolean(object[name]) into *truth (an accessor runs, as for any read of an
// option); false when the property or its truth could not be read.
bool ReadFlag(napi_env env, napi_value object, const char* name, bool* truth);

}  // namespace ctls

#endif  // NATIVE_JS_VALUES_H_
